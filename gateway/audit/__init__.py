"""The tamper-evident record of who verified what, and what staff did about it."""
