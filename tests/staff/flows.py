"""What clients do in the console tests, driven through a real chat client."""

from __future__ import annotations

from gateway.codes.totp import totp_for
from tests.conftest import MovableClock
from tests.gateway.conftest import JAN_SECRET
from tests.live import ChatClient


async def verified_request(visitor: ChatClient, clock: MovableClock) -> str:
    """Runs a domain transfer through identification and a TOTP code; returns its ticket."""
    await visitor.say("I want to move my domain to another registrar")
    await visitor.wait_for(lambda: visitor.status["stage"] == "identify")
    await visitor.say("example.pl")
    await visitor.wait_for(lambda: visitor.status["stage"] == "authenticate")
    code = totp_for(JAN_SECRET).at(clock.now())
    assert await visitor.credentials("jan.kowalski", code) == {"ok": True}
    await visitor.wait_for(lambda: visitor.status["stage"] == "verified")
    return str(visitor.status["ticket"])


async def held_request(visitor: ChatClient) -> str:
    """A change request waiting for its code: unverified."""
    await visitor.say("please delete my server vps-1234")
    await visitor.wait_for(lambda: visitor.status["stage"] == "authenticate")
    return str(visitor.status["ticket"])
