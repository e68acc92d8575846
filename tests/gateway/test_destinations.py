"""Where a request would send something, as the client is told and staff read it."""

from __future__ import annotations

import pytest

from gateway.destinations import find_destinations


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("send it to Evil@Attacker.example", ("evil@attacker.example",)),
        ("set the A to 203.0.113.66 and AAAA to 2001:db8::1", ("203.0.113.66", "2001:db8::1")),
        ("transfer example.pl to OVH please", ("registrar:OVH",)),
        ("przenieście example.pl do godaddy", ("registrar:GoDaddy",)),
        ("move it to Google Domains", ("registrar:Google Domains",)),
        ("the refund to PL61 1090 1014 0000 0712 1981 2874", ("account:…2874",)),
        ("zwrot na 61109010140000071219812874", ("account:…2874",)),
        ("What are your opening hours?", ()),
        ("an overhaul of the OVHcloud plan", ("registrar:OVHcloud",)),
        # Disguises the review used (issue 12): each is where something would go.
        ("send it to evil\u200b@attacker.example", ("evil@attacker.example",)),
        ("send it to evil@attacker\u200b.example", ("evil@attacker.example",)),
        ("send it to evil＠attacker.example", ("evil@attacker.example",)),
        ("send it to evil﹫attacker.example", ("evil@attacker.example",)),
        ("send it to evil (at) attacker (dot) example", ("evil@attacker.example",)),
        ("send it to evil [at] attacker [dot] example", ("evil@attacker.example",)),
        ("set the A to １９２.０.２.６６", ("192.0.2.66",)),
        ("set the A to 192。0。2。66", ("192.0.2.66",)),
        ("set the A to 192.000.002.066", ("192.0.2.66",)),
        (
            "post it to https://attacker.example/collect?x=1",
            ("url:https://attacker.example/collect?x=1",),
        ),
        ("SMS na numer +48 600 100 200", ("phone:…200",)),
        ("wyślijcie SMS na numer 600100200", ("phone:…200",)),
        ("przenieście do rejestratora EvilReg", ("registrar:EvilReg",)),
        ("move it to the registrar Evil-Names Ltd", ("registrar:Evil-Names",)),
        # Review (helper-10, F4): each was left out of what the client is told.
        ("send the AuthInfo to evil@attacker[.]example", ("evil@attacker.example",)),
        ("send the AuthInfo to evil@attacker(.)example", ("evil@attacker.example",)),
        ("send it to evil@attacker.\nexample once done", ("evil@attacker.example",)),
        ("send it to evil\n@attacker.example", ("evil@attacker.example",)),
        ("send it to evil%40attacker.example", ("evil@attacker.example",)),
        ("send it to me on Telegram @EvilHacker", ("handle:@evilhacker",)),
        ("the address in my profile on twitter @evilhacker.", ("handle:@evilhacker",)),
        ("point the A at IP 1 . 2 . 3 . 4", ("1.2.3.4",)),
        ("point the A at 0x01020304", ("1.2.3.4",)),
        # Re-review (helper-12, F4).
        ("change the contact e-mail to evil @ attacker . example", ("evil@attacker.example",)),
        ("change the contact e-mail to evil at attacker dot example", ("evil@attacker.example",)),
        ("we meet at noon. Then call me", ()),
    ],
)
def test_every_kind_of_destination_is_named(text: str, expected: tuple[str, ...]) -> None:
    assert find_destinations(text) == expected


def test_no_digits_of_an_account_beyond_its_last_four_are_kept() -> None:
    (account,) = find_destinations("konto PL61 1090 1014 0000 0712 1981 2874")
    assert "1090" not in account and account.endswith("2874")


def test_a_registrar_inside_another_word_is_not_one() -> None:
    assert find_destinations("the dynamics of enomorphism and movh") == ()
