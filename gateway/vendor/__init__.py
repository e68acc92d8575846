"""Third-party browser code we ship unmodified (see README.md here): the socket.io client that
the chat widget and the staff console both load, so both speak one version."""

from __future__ import annotations

import re
from importlib import resources

SOURCE_MAP = re.compile(r"^//# sourceMappingURL=.*$", re.MULTILINE)


def socketio_client() -> str:
    """The vendored socket.io client without its source-map line (the map is not served)."""
    text = resources.files("gateway.vendor").joinpath("socket.io.min.js").read_text("utf-8")
    return SOURCE_MAP.sub("", text).rstrip()
