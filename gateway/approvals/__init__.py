"""The client approving a held request in the Client Panel (contract section 11)."""
