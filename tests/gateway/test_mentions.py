"""The squashed keys an account is mentioned by, and the runs of words that name them."""

from __future__ import annotations

import pytest

from gateway.accounts.mentions import LOGIN, NAME, SERVICE, Mention, candidates, keys_of_account


def test_an_account_is_known_by_its_services_login_and_full_name() -> None:
    keys = keys_of_account("jan.kowalski", "Jan Kowalski", ["example.pl", "vps-1234", "a.pl"])
    assert Mention(SERVICE, "examplepl") in keys and Mention(SERVICE, "vps1234") in keys
    assert Mention(LOGIN, "jankowalski") in keys and Mention(NAME, "jankowalski") in keys
    assert not any(mention.key == "apl" for mention in keys)  # too short to be a name
    assert not any(m.kind == NAME for m in keys_of_account("biuro", "Biuro", []))


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("vps 1234", "vps1234"),
        ("VPS no. 1234", "vps1234"),
        ("serwer vps nr 1234", "vps1234"),
        ("vps-l234", "vps1234"),
        ("vps-\u0661\u0662\u0663\u0664", "vps1234"),
        ("vps 1\ufe0f\u20e32\ufe0f\u20e33\ufe0f\u20e34\ufe0f\u20e3", "vps1234"),
        ("example,pl", "examplepl"),
        ("example.\npl", "examplepl"),
        ("example\ua78fpl", "examplepl"),
        ("example\u00adpl", "examplepl"),
        ("example \U0001f1f5\U0001f1f1", "examplepl"),
        ("abc\u30fcfirma.pl", "abcfirmapl"),
        ("the domain of Jan Kowalski", "jankowalski"),
    ],
)
def test_a_name_in_another_shape_is_a_candidate(text: str, key: str) -> None:
    assert key in candidates([f"Please do something with {text}, thanks"])


def test_candidates_are_bounded_by_the_text_read() -> None:
    assert len(candidates(["word " * 200_000])) < 10
