"""The Client Panel's side of contract section 11, as a panel's server calls it over HTTP."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.chat.conftest import PANEL_KEY

AUTH = {"Authorization": f"Bearer {PANEL_KEY}"}


async def approvals(url: str, login: str, key: str = PANEL_KEY) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{url}/api/panel/approvals",
            params={"login": login},
            headers={"Authorization": f"Bearer {key}"},
        ) as response,
    ):
        return response.status, await response.json()


async def decide(url: str, challenge: str, body: dict[str, Any]) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/api/panel/approvals/{challenge}", json=body, headers=AUTH) as response,
    ):
        return response.status, await response.json()


async def approve(url: str, challenge: str, login: str, number: str) -> tuple[int, Any]:
    return await decide(url, challenge, {"login": login, "decision": "approve", "number": number})


async def deny(url: str, challenge: str, login: str) -> tuple[int, Any]:
    return await decide(url, challenge, {"login": login, "decision": "deny"})


def other_number(number: str) -> str:
    return f"{(int(number) + 1) % 10 ** len(number):0{len(number)}d}"
