"""Whose address a verification record names when the gateway sits behind reverse proxies."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.config import ConfigError, load_settings
from gateway.process.client_address import ClientAddress

BEHIND_NGINX = ClientAddress(["10.0.0.0/24", "::1"])


def test_without_trusted_proxies_the_header_is_ignored() -> None:
    assert ClientAddress([]).of("203.0.113.9", "198.51.100.1") == "203.0.113.9"


def test_the_header_from_an_untrusted_peer_is_ignored() -> None:
    assert BEHIND_NGINX.of("203.0.113.9", "198.51.100.1") == "203.0.113.9"


def test_the_hop_before_our_proxies_is_the_client() -> None:
    assert BEHIND_NGINX.of("10.0.0.5", "198.51.100.1") == "198.51.100.1"
    # Two of our own proxies in a row (CDN edge → nginx): still the first foreign hop.
    assert BEHIND_NGINX.of("10.0.0.5", "198.51.100.1, 10.0.0.7") == "198.51.100.1"


def test_what_the_client_wrote_further_left_proves_nothing() -> None:
    forged = "127.0.0.1, 192.0.2.66, 198.51.100.1"  # the client sent the first two itself
    assert BEHIND_NGINX.of("10.0.0.5", forged) == "198.51.100.1"


def test_a_malformed_header_keeps_the_last_address_vouched_for() -> None:
    assert BEHIND_NGINX.of("10.0.0.5", "evil\r\nX-Injected: 1") == "10.0.0.5"
    assert BEHIND_NGINX.of("10.0.0.5", "198.51.100.1, not-an-ip") == "10.0.0.5"


@given(st.text(max_size=200))
def test_any_header_yields_the_peer_or_an_address_in_the_header(header: str) -> None:
    found = BEHIND_NGINX.of("10.0.0.5", header)
    assert found == "10.0.0.5" or found in [hop.strip() for hop in header.split(",")]


def test_a_bad_network_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"http\.trusted_proxies.*'nginx'"):
        load_settings(None, {"GATEWAY_HTTP_TRUSTED_PROXIES": "10.0.0.0/8,nginx"})
