"""Deliveries owed to staff and clients, written in the same transaction as what caused them."""
