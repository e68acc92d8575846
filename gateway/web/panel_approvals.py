"""The Client Panel's approvals (contract section 11): what is held for a logged-in client, in
the gateway's own words, and the client's decision on it. The panel calls these server-side
with its bearer key, for the client its own session has logged in; the number the client
types is the one the requester was shown, so an approval comes from the conversation the
client is in. The number is never listed."""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from gateway.approvals.challenges import Offer
from gateway.core import Core
from gateway.credentials import LOGIN_PATTERN
from gateway.pipeline.model import PanelChoice, PanelDecision, PanelOutcome
from gateway.process.keys import CORE
from gateway.redaction import redact
from gateway.timefmt import iso
from gateway.web.panel_api import authorised_body, refused

CHALLENGE_ID = re.compile(r"[A-Za-z0-9_-]{16,32}")
NUMBER = re.compile(r"[0-9]{1,6}")
NO_STORE = {"Cache-Control": "no-store"}
HTTP_STATUS = {
    PanelOutcome.APPROVED: 200,
    PanelOutcome.DENIED: 200,
    PanelOutcome.WRONG_NUMBER: 409,
    PanelOutcome.EXPIRED: 410,
    PanelOutcome.NOT_FOUND: 404,
}


async def list_approvals(request: web.Request) -> web.Response:
    denied = refused(request)
    if denied is not None:
        return denied
    logins = request.query.getall("login", [])
    if len(logins) != 1:
        return web.json_response({"error": "give exactly one login"}, status=400, headers=NO_STORE)
    status, body = await listing(request.app[CORE], logins[0])
    return web.json_response(body, status=status, headers=NO_STORE)


async def listing(core: Core, login: str) -> tuple[int, dict[str, Any]]:
    """GET /api/panel/approvals as (HTTP status, body): what the panel (or the demo panel)
    shows a logged-in client."""
    if not LOGIN_PATTERN.fullmatch(login):
        return 400, {"error": "login is missing or malformed"}
    async with core.sessions() as session:
        if not await core.challenges.login_exists(session, login):
            return 404, {"error": "unknown login"}
        offers = await core.challenges.offers(session, login)
        listed = [_listed(core.offers.describe(o.request, o.account.language), o) for o in offers]
    return 200, {"approvals": listed}


def _listed(description: str, offer: Offer) -> dict[str, Any]:
    conversation, held = offer.conversation, offer.request
    return {
        "id": offer.challenge.public_id,
        "ticket": held.ticket,
        "channel": held.channel,
        "intent": held.intent,
        "intents": json.loads(held.intents or "[]") or [held.intent],
        "description": description,
        "request_text": redact(held.request_text),
        "requested_at": iso(held.created_at),
        "expires_at": iso(offer.challenge.expires_at),
        "requester": {
            "channel": held.channel,
            "address": redact(conversation.client) if conversation.client else None,
        },
    }


async def decide_approval(request: web.Request) -> web.Response:
    body = await authorised_body(request)
    if isinstance(body, web.Response):
        return body
    status, answer = await decision(request.app[CORE], request.match_info["id"], body)
    return web.json_response(answer, status=status, headers=NO_STORE)


async def decision(
    core: Core, challenge_id: str, body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    """POST /api/panel/approvals/{id} as (HTTP status, body): the client's decision, a turn of
    the conversation the request was made in."""
    if set(body) - {"login", "decision", "number"}:
        return 400, {"error": "body must hold login, decision and, to approve, number"}
    login, choice, number = body.get("login"), body.get("decision"), body.get("number")
    if not isinstance(login, str) or not LOGIN_PATTERN.fullmatch(login):
        return 400, {"error": "login is missing or malformed"}
    if choice not in (PanelChoice.APPROVE, PanelChoice.DENY):
        return 400, {"error": 'decision must be "approve" or "deny"'}
    approving = choice == PanelChoice.APPROVE
    if approving and (not isinstance(number, str) or not NUMBER.fullmatch(number)):
        return 400, {"error": "number must be the digits the requester was shown"}
    unknown = 404, {"error": "no such approval for this login"}
    if not CHALLENGE_ID.fullmatch(challenge_id):
        return unknown
    async with core.sessions() as session:
        conversation = await core.challenges.conversation_of(session, challenge_id)
    if conversation is None:
        return unknown
    given = number if approving and isinstance(number, str) else ""
    command = PanelDecision(conversation, challenge_id, login, PanelChoice(choice), given)
    answer = (await core.pipeline.handle(command)).panel
    if answer is None:  # the conversation was closed: nothing is open in it
        return 410, {"status": PanelOutcome.EXPIRED.value}
    if answer.outcome is PanelOutcome.NOT_FOUND:
        return unknown
    shown: dict[str, Any] = {"status": answer.outcome.value}
    if answer.outcome is PanelOutcome.WRONG_NUMBER:
        shown["attempts_left"] = answer.attempts_left
    return HTTP_STATUS[answer.outcome], shown
