"""Client accounts as the provider's billing system knows them: login, contact, services."""
