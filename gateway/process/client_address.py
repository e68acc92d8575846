"""The client's address behind the operator's reverse proxies.

Verification records name the client's IP for later disputes; behind nginx every connection
comes from nginx. X-Forwarded-For is believed only when the connection comes from a proxy the
operator listed (`http.trusted_proxies`), and then only up to the first hop that is not one of
them: anything further left was written by the client and proves nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

IP = ipaddress.IPv4Address | ipaddress.IPv6Address


class ClientAddress:
    def __init__(self, trusted_proxies: Sequence[str]) -> None:
        self._trusted = tuple(ipaddress.ip_network(net, strict=False) for net in trusted_proxies)

    def of(self, peer: str | None, forwarded_for: str | None) -> str:
        """`peer`: the TCP peer; `forwarded_for`: the X-Forwarded-For header, if any."""
        address = peer or ""
        if not self._trusted or not forwarded_for or not self._is_trusted(_ip(address)):
            return address
        for hop in reversed(forwarded_for.split(",")):
            ip = _ip(hop.strip())
            if ip is None:
                return address  # a malformed chain: keep the last address we can vouch for
            address = hop.strip()
            if not self._is_trusted(ip):
                break
        return address

    def _is_trusted(self, ip: IP | None) -> bool:
        return ip is not None and any(ip in network for network in self._trusted)


def _ip(text: str) -> IP | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
