"""The e-mail channel: the support mailbox behind SMTP."""
