from tests.chat.conftest import gateway  # noqa: F401 - the chat tests' live gateway
