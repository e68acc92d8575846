"""Where a request came from: whether it travelled over TLS, and whether a form post was sent
by one of our own pages (its Origin, else its Referer, must be ours)."""

from __future__ import annotations

from aiohttp import web
from yarl import URL


def is_https(request: web.Request, public_url: str) -> bool:
    """TLS here, or at the proxy in front. Trusting X-Forwarded-Proto is safe for this one use:
    it can only add the Secure flag, and a Secure cookie over plain HTTP merely fails to stick
    for the client who forged the header."""
    return (
        request.secure
        or request.headers.get("X-Forwarded-Proto", "").lower() == "https"
        or public_url.startswith("https://")
    )


def our_origins(request: web.Request, public_url: str) -> set[str]:
    origins = {f"{request.scheme}://{request.host}"}
    if is_https(request, public_url):
        origins.add(f"https://{request.host}")
    if public_url:
        origins.add(_origin_of(public_url) or "")
    origins.discard("")
    return origins


def same_origin(request: web.Request, public_url: str) -> bool:
    """Browsers send Origin with every POST; a post carrying neither header is refused."""
    origin = request.headers.get("Origin")
    if origin is None:
        origin = _origin_of(request.headers.get("Referer", ""))
    return origin is not None and origin in our_origins(request, public_url)


def _origin_of(address: str) -> str | None:
    try:
        url = URL(address)
    except ValueError:
        return None
    if not url.absolute or url.scheme not in ("http", "https"):
        return None
    return str(url.origin())


def foreign_origin(request: web.Request, public_url: str) -> bool:
    """For the live feed's handshake: a browser names its page's origin, which must be ours;
    no Origin at all is a same-origin polling request or not a browser."""
    origin = request.headers.get("Origin")
    return origin is not None and origin not in our_origins(request, public_url)
