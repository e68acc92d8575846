"""One-time codes: TOTP from the client's authenticator and single-use codes from the panel."""
