"""Which accounts a conversation mentions, however the names are written.

The scope of a request (`gateway.service_names`, `gateway.destinations`) reads names in the
shapes they have; a client who wants a change of someone else's service to ride on their own
verification writes it in another ("vps 1234", "example,pl", "abc firma.pl", "the domain of
Jan Kowalski, login jan.kowalski"). So each account is also known by squashed keys: its
services, its login and its name with everything but letters and digits taken out, read
through the same disguises. Any run of up to four words of the conversation squashed the same
way that equals a key is a mention of those accounts, and a verification in that conversation
must be by one of them, for every mention: the verifier's own names never get in the way, and
naming anybody else's makes the conversation one no single verification covers.

Keys are compared, never shown; a mention found changes nothing the client sees beyond the
failed verification, which reads the same as a wrong code.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.redaction import LOOK_ALIKE_NUMBER as _LOOK_ALIKE_NUMBER
from gateway.redaction import as_digits as _as_digits
from gateway.service_names import undisguised
from gateway.storage.models import AccountMention
from policies.normalize import fold

SERVICE = "service"
LOGIN = "login"
NAME = "name"
MAX_WORDS = 4
MAX_SCAN_CHARS = 256 * 1024
CHUNK = 500
# Words that stand between a kind of service and its number ("vps no. 1234", "serwer nr 12").
FILLERS = frozenset({"no", "nr", "number", "numer", "num", "id", "nummer"})
_WORD = re.compile(r"[^\W_]+")
_DIGIT_DRESSING = re.compile("[\ufe0f\u20e3]")
# A flag is two letters: "🇵🇱" is "pl".
_FLAG_LETTERS = {0x1F1E6 + offset: chr(ord("a") + offset) for offset in range(26)}


@dataclass(frozen=True, slots=True)
class Mention:
    kind: str
    key: str


def key_of(name: str) -> str:
    """A name squashed: look-alikes folded, everything but letters and digits gone."""
    return "".join(_words(name))


def _words(text: str) -> list[str]:
    """The text's words as keys are made of: look-alikes folded, digits of any script and any
    dressing (keycaps) as ASCII digits, letters posing as digits beside digits as those
    digits ("vps-l234"), and whatever is still not an ASCII letter or digit dropped (a
    dash-like or dot-like letter inside "abcーfirma" or "exampleꞏpl" hides nothing)."""
    folded = fold(undisguised(_DIGIT_DRESSING.sub("", text).translate(_FLAG_LETTERS)))
    words = []
    for word in _WORD.findall(folded):
        word = _LOOK_ALIKE_NUMBER.sub(_as_digits, "".join(_ascii(char) for char in word))
        if word and word not in FILLERS:
            words.append(word)
    return words


def _ascii(char: str) -> str:
    if char.isascii():
        return char if char.isalnum() else ""
    digit = unicodedata.decimal(char, None)
    return "" if digit is None else str(digit)


def _long_enough(key: str) -> bool:
    """Short keys are words of the language ("mail", "shop"), not names."""
    return len(key) >= 5 or (len(key) >= 4 and any(c.isdigit() for c in key))


def keys_of_account(login: str, name: str, services: Iterable[str]) -> set[Mention]:
    found = {Mention(SERVICE, key_of(service)) for service in services}
    found.add(Mention(LOGIN, key_of(login)))
    if len(_words(name)) >= 2:  # a single word ("Anna", "Biuro") names nobody in particular
        found.add(Mention(NAME, key_of(name)))
    return {mention for mention in found if _long_enough(mention.key)}


async def store_keys(
    session: AsyncSession, account_id: int, login: str, name: str, services: Iterable[str]
) -> None:
    await session.execute(delete(AccountMention).where(AccountMention.account_id == account_id))
    session.add_all(
        AccountMention(account_id=account_id, kind=mention.kind, key=mention.key)
        for mention in keys_of_account(login, name, services)
    )


def candidates(texts: Iterable[str]) -> set[str]:
    """Every run of one to four words, squashed; bounded by MAX_SCAN_CHARS of text in all."""
    found: set[str] = set()
    budget = MAX_SCAN_CHARS
    for text in texts:
        if budget <= 0:
            break
        words = _words(text[:budget])
        budget -= len(text)
        for start in range(len(words)):
            for joined in _runs(words, start):
                if _long_enough(joined):
                    found.add(joined)
    return found


def _runs(words: list[str], start: int) -> Iterator[str]:
    joined = ""
    for word in words[start : start + MAX_WORDS]:
        joined += word
        yield joined


async def mentioned(session: AsyncSession, texts: Iterable[str]) -> list[frozenset[int]]:
    """For each key the texts mention, the accounts it names; the same queries whatever the
    texts name (one per CHUNK candidates)."""
    keys = sorted(candidates(texts))
    named: dict[str, set[int]] = {}
    for start in range(0, max(len(keys), 1), CHUNK):
        rows = await session.execute(
            select(AccountMention.key, AccountMention.account_id).where(
                AccountMention.key.in_(keys[start : start + CHUNK])
            )
        )
        for key, account_id in rows:
            named.setdefault(key, set()).add(account_id)
    return [frozenset(accounts) for accounts in named.values()]
