"""Recognition is total, deterministic and blind to case and diacritics, for any text."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policies import PolicySet
from policies.normalize import words

CORPUS = Path(__file__).with_name("corpus.jsonl")
VOCABULARY = sorted(
    {
        word
        for line in CORPUS.read_text(encoding="utf-8").splitlines()
        for word in json.loads(line)["text"].split()
    }
)

# Client-like text: words that trigger patterns, mixed with arbitrary characters.
client_text = st.lists(
    st.one_of(st.sampled_from(VOCABULARY), st.text(max_size=6)), max_size=40
).map(" ".join)
# Latin-script noise: the case property is about how clients write, not about scripts whose
# upper case does not round-trip (e.g. a Greek combining iota becoming a capital letter).
latin = st.characters(min_codepoint=0, max_codepoint=0x24F)
latin_client_text = st.lists(
    st.one_of(st.sampled_from(VOCABULARY), st.text(latin, max_size=6)), max_size=40
).map(" ".join)

fast = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def strip_accents(text: str) -> str:
    """Written independently of the code under test: what a keyboard without Polish does."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    return stripped.replace("ł", "l").replace("Ł", "L")


@fast
@given(text=st.text())
def test_never_raises_on_any_text(bundled: PolicySet, text: str) -> None:
    seen = bundled.recognize(text)
    assert seen.intent
    assert seen.language in {"pl", "en"}


@fast
@given(text=client_text)
def test_deterministic(bundled: PolicySet, text: str) -> None:
    assert bundled.recognize(text) == bundled.recognize(text)


@fast
@given(text=latin_client_text)
def test_case_insensitive(bundled: PolicySet, text: str) -> None:
    assert bundled.recognize(text.upper()) == bundled.recognize(text)
    assert bundled.recognize(text.lower()) == bundled.recognize(text)


@fast
@given(text=client_text)
def test_diacritics_insensitive(bundled: PolicySet, text: str) -> None:
    assert bundled.recognize(strip_accents(text)) == bundled.recognize(text)


@fast
@given(text=st.text())
def test_words_are_folded(text: str) -> None:
    for word in words(text):
        assert word
        assert word == word.lower() or not word.isascii()
        assert not any(unicodedata.combining(char) for char in word)


def test_huge_and_odd_text(bundled: PolicySet) -> None:
    odd = "".join(chr(code) for code in range(0x20, 0x3000) if chr(code).isprintable())
    assert bundled.recognize(odd * 20).intent
    assert bundled.recognize("\x00" * 100_000).intent == "general_question"
    assert bundled.recognize("a." * 100_000 + "@" * 1000).intent
    assert bundled.recognize("ﬁ" * 50_000 + " İ" * 50_000).intent
