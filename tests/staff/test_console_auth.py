"""Logging in to the staff console, and what keeps a session honest: fresh tokens, server-side
logout and timeouts, the lock, CSRF, and the headers."""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from gateway.codes.totp import totp_for
from gateway.staff.console.auth import LOGIN_FAILED
from gateway.storage.models import StaffSession
from tests.conftest import MovableClock
from tests.live import LiveGateway
from tests.staff.console_http import (
    STAFF_PASSWORD,
    STAFF_USER,
    StaffHttp,
    csrf_of,
    fresh_code,
    logged_in,
    set_cookies,
)


async def session_rows(gateway: LiveGateway) -> list[StaffSession]:
    async with gateway.core.sessions() as session:
        return list((await session.scalars(select(StaffSession))).all())


async def log_in(staff: StaffHttp, secret: str, clock: MovableClock) -> None:
    response = await staff.login(STAFF_USER, STAFF_PASSWORD, fresh_code(secret, clock))
    assert response.status == 303 and response.headers["Location"] == "/staff/"
    assert logged_in(await staff.page())


async def test_password_and_totp_open_a_fresh_server_side_session(
    gateway: LiveGateway, staff_http: StaffHttp, staff_secret: str, clock: MovableClock
) -> None:
    login_page = await staff_http.page()
    assert not logged_in(login_page) and 'name="code"' in login_page
    response = await staff_http.login(STAFF_USER, STAFF_PASSWORD, fresh_code(staff_secret, clock))
    assert response.status == 303
    [cookie] = set_cookies(response, "gw_staff")
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/staff"} <= attributes
    assert "secure" not in attributes  # plain HTTP here; see the TLS test below
    token = staff_http.session_cookie
    assert token and len(token) >= 43  # 256 bits, URL-safe base64
    [row] = await session_rows(gateway)
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()  # only the hash is kept
    page = await staff_http.page()
    assert logged_in(page) and STAFF_USER in page and "Queue" in page


async def test_every_failure_gets_the_same_answer(
    gateway: LiveGateway, staff_http: StaffHttp, staff_secret: str, clock: MovableClock
) -> None:
    code = totp_for(staff_secret).at(clock.now())
    wrong_code = f"{(int(code) + 1) % 1_000_000:06d}"
    attempts = [
        (STAFF_USER, "not the password at all", code),
        (STAFF_USER, STAFF_PASSWORD, wrong_code),
        ("nobody", STAFF_PASSWORD, code),
        (STAFF_USER, STAFF_PASSWORD, ""),
    ]
    for username, password, given in attempts:
        response = await staff_http.login(username, password, given)
        assert set_cookies(response, "gw_staff") == []
        assert await staff_http.flash(response) == ("error", LOGIN_FAILED)
    assert await session_rows(gateway) == []


async def test_a_code_is_accepted_once(
    staff_http: StaffHttp, staff_secret: str, clock: MovableClock
) -> None:
    code = fresh_code(staff_secret, clock)
    assert (await staff_http.login(STAFF_USER, STAFF_PASSWORD, code)).status == 303
    assert logged_in(await staff_http.page())
    await staff_http.submit("/staff/logout", "/staff/")
    replay = await staff_http.login(STAFF_USER, STAFF_PASSWORD, code)
    assert await staff_http.flash(replay) == ("error", LOGIN_FAILED)
    # The previous step is inside the window too, but older than the accepted one: refused.
    older = totp_for(staff_secret).at(clock.now().timestamp() - 30)
    assert await staff_http.flash(await staff_http.login(STAFF_USER, STAFF_PASSWORD, older)) == (
        "error",
        LOGIN_FAILED,
    )


async def test_five_failures_lock_the_account_for_fifteen_minutes(
    staff_http: StaffHttp, staff_secret: str, clock: MovableClock
) -> None:
    for _ in range(5):
        failed = await staff_http.login(STAFF_USER, "wrong password, again", "000000")
        assert await staff_http.flash(failed) == ("error", LOGIN_FAILED)
    locked = await staff_http.login(STAFF_USER, STAFF_PASSWORD, fresh_code(staff_secret, clock))
    assert await staff_http.flash(locked) == ("error", LOGIN_FAILED)
    clock.advance(minutes=13)  # with fresh_code's 30 s steps: 14 minutes into the lock
    still = await staff_http.login(STAFF_USER, STAFF_PASSWORD, fresh_code(staff_secret, clock))
    assert await staff_http.flash(still) == ("error", LOGIN_FAILED)
    clock.advance(minutes=1)
    await log_in(staff_http, staff_secret, clock)


async def test_a_cookie_from_before_login_is_never_promoted(
    gateway: LiveGateway, staff_http: StaffHttp, staff_secret: str, clock: MovableClock
) -> None:
    planted = "attacker-chosen-session-token-0123456789abcdef"
    staff_http.http.cookie_jar.update_cookies(
        {"gw_staff": planted}, gateway.server.make_url("/staff/")
    )
    await log_in(staff_http, staff_secret, clock)
    first = staff_http.session_cookie
    assert first and first != planted
    assert len(await session_rows(gateway)) == 1
    victim = StaffHttp.open(gateway.url)
    try:
        victim.http.cookie_jar.update_cookies(
            {"gw_staff": planted}, gateway.server.make_url("/staff/")
        )
        assert not logged_in(await victim.page())
    finally:
        await victim.close()


async def test_logout_ends_the_session_on_the_server(
    gateway: LiveGateway, staff_http: StaffHttp, staff_secret: str, clock: MovableClock
) -> None:
    await log_in(staff_http, staff_secret, clock)
    token = staff_http.session_cookie
    response = await staff_http.submit("/staff/logout", "/staff/")
    assert await staff_http.flash(response) == ("notice", "Logged out.")
    assert await session_rows(gateway) == []
    replayed = StaffHttp.open(gateway.url)
    try:
        replayed.http.cookie_jar.update_cookies(
            {"gw_staff": token or ""}, gateway.server.make_url("/staff/")
        )
        assert not logged_in(await replayed.page())
        status, _ = await replayed.get(f"/staff/conversations/{'x' * 22}")
        assert status == 303  # to the login page
    finally:
        await replayed.close()


async def test_a_session_dies_after_30_idle_minutes(
    gateway: LiveGateway, staff_http: StaffHttp, staff_secret: str, clock: MovableClock
) -> None:
    await log_in(staff_http, staff_secret, clock)
    clock.advance(minutes=25)
    assert logged_in(await staff_http.page())  # use keeps it alive...
    clock.advance(minutes=25)
    assert logged_in(await staff_http.page())
    clock.advance(minutes=30)
    assert not logged_in(await staff_http.page())  # ...idleness ends it
    assert await session_rows(gateway) == []


async def test_a_session_dies_12_hours_after_login_however_busy(
    staff_http: StaffHttp, staff_secret: str, clock: MovableClock
) -> None:
    await log_in(staff_http, staff_secret, clock)
    for _ in range(11 * 3 + 2):  # a page every 20 minutes for 11 h 40 min
        clock.advance(minutes=20)
        assert logged_in(await staff_http.page())
    clock.advance(minutes=20)
    assert not logged_in(await staff_http.page())


async def test_posts_need_our_csrf_token_and_origin(
    gateway: LiveGateway, staff_http: StaffHttp, staff_secret: str, clock: MovableClock
) -> None:
    login_token = csrf_of(await staff_http.page())
    fields = {"username": STAFF_USER, "password": STAFF_PASSWORD}
    code = {"code": fresh_code(staff_secret, clock)}
    assert (await staff_http.post("/staff/login", {**fields, **code})).status == 403
    forged = {**fields, **code, "csrf": "0" * 64}
    assert (await staff_http.post("/staff/login", forged)).status == 403
    foreign = {"Origin": "https://evil.example"}
    sent = {**fields, **code, "csrf": login_token}
    assert (await staff_http.post("/staff/login", sent, headers=foreign)).status == 403
    assert (await staff_http.post("/staff/login", sent, headers={"Origin": "null"})).status == 403
    await log_in(staff_http, staff_secret, clock)
    token = csrf_of(await staff_http.page())
    assert (await staff_http.post("/staff/logout", {})).status == 403
    assert (await staff_http.post("/staff/logout", {"csrf": login_token})).status == 403
    assert (await staff_http.post("/staff/logout", {"csrf": token}, headers=foreign)).status == 403
    assert len(await session_rows(gateway)) == 1  # none of those logged out
    referer_only = {"Origin": "", "Referer": f"{gateway.url}/staff/"}
    response = await staff_http.post("/staff/logout", {"csrf": token}, headers=referer_only)
    assert response.status == 303
    assert await session_rows(gateway) == []


async def test_console_pages_carry_strict_security_headers(
    gateway: LiveGateway, staff_http: StaffHttp, staff_secret: str, clock: MovableClock
) -> None:
    async def headers(path: str) -> dict[str, str]:
        async with staff_http.http.get(gateway.url + path, allow_redirects=False) as response:
            return dict(response.headers)

    pages = ["/staff/", "/staff/static/console.js", "/staff/conversations/nope"]
    login_page = await headers("/staff/")
    await log_in(staff_http, staff_secret, clock)
    for found in [login_page, *[await headers(path) for path in pages]]:
        policy = found["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in policy
        assert "default-src 'none'" in policy and "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert found["X-Content-Type-Options"] == "nosniff"
    assert (await headers("/staff/"))["Cache-Control"] == "no-store"


async def test_the_cookie_is_secure_behind_tls(
    staff_http: StaffHttp, staff_secret: str, clock: MovableClock
) -> None:
    behind_proxy = {"X-Forwarded-Proto": "https"}
    token = csrf_of(await staff_http.page())
    fields = {"username": STAFF_USER, "password": STAFF_PASSWORD, "csrf": token}
    fields["code"] = fresh_code(staff_secret, clock)
    response = await staff_http.post("/staff/login", fields, headers=behind_proxy)
    assert response.status == 303
    [cookie] = set_cookies(response, "gw_staff")
    assert "secure" in {part.strip().lower() for part in cookie.split(";")}
