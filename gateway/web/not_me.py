"""The page a notice's signed "I did not ask for this" link opens (contract section 11).

GET only shows what the link is about (a mail scanner that follows links stops nothing); the
button's POST, back to the same address, stops the request through the pipeline's one door.
Whatever the token, an unknown or lapsed one gets the same page.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from jinja2 import Environment, PackageLoader, StrictUndefined
from sqlalchemy import select

from gateway.core import Core
from gateway.pipeline.model import ContactDenial, PanelOutcome, RequestStatus, Verification
from gateway.pipeline.replies import pick_language
from gateway.process.keys import CORE
from gateway.staff.console.origin import foreign_origin
from gateway.storage.models import Account, ChangeRequest

_PAGES = Environment(
    loader=PackageLoader("gateway.web", "templates"), autoescape=True, undefined=StrictUndefined
)
NO_STORE = {"Cache-Control": "no-store"}


def register_not_me(app: web.Application) -> None:
    app.router.add_get("/not-me/{token}", show)
    app.router.add_post("/not-me/{token}", stop)


async def show(request: web.Request) -> web.Response:
    core = request.app[CORE]
    found = await _found(core, request.match_info["token"])
    if found is None:
        return _page(404, "invalid", "en")
    held, account = found
    open_to_it = (
        held.status == RequestStatus.FORWARDED and held.verification == Verification.VERIFIED
    )
    return _page(200, "open" if open_to_it else "gone", account.language, core, held)


async def stop(request: web.Request) -> web.Response:
    core = request.app[CORE]
    if foreign_origin(request, core.settings.http.public_url):
        return web.json_response({"error": "cross-site request refused"}, status=403)
    found = await _found(core, request.match_info["token"])
    if found is None:
        return _page(404, "invalid", "en")
    held, account = found
    command = ContactDenial(held.conversation_id, held.ticket, account.id)
    answer = (await core.pipeline.handle(command)).panel
    stopped = answer is not None and answer.outcome is PanelOutcome.DENIED
    return _page(200, "stopped" if stopped else "gone", account.language, core, held)


async def _found(core: Core, token: str) -> tuple[ChangeRequest, Account] | None:
    claim = core.links.claim(token[:200])
    if claim is None:
        return None
    async with core.sessions() as session:
        held = await session.scalar(
            select(ChangeRequest).where(ChangeRequest.ticket == claim.ticket)
        )
        account = await session.get(Account, claim.account_id)
    if held is None or account is None or held.account_id != account.id:
        return None
    return held, account


def _page(
    status: int,
    state: str,
    language: str,
    core: Core | None = None,
    held: ChangeRequest | None = None,
) -> web.Response:
    params: dict[str, Any] = {"state": state, "language": pick_language(language)}
    if held is not None and core is not None:
        params["ticket"] = held.ticket
        params["description"] = core.offers.describe(held, params["language"])
    body = _PAGES.get_template("not_me.html").render(**params)
    return web.Response(
        text=body, status=status, content_type="text/html", charset="utf-8", headers=NO_STORE
    )
