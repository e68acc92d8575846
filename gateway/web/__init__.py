"""The HTTP side: one aiohttp application for health, metrics, the panel API and (later) chat."""
