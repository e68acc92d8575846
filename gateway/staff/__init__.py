"""Staff: the people who receive vetted requests, and their console."""
