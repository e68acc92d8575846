"""How long the bundled policies take to recognise a message, against the bare cost of
splitting the same text into folded words (policies.normalize.words, the first thing
recognition does) measured in the same run: the ratio is what matching the intents adds.

Every chat line and every e-mail is recognised once, on the event loop, so this sits inside
every chat round trip of bench/chat.py. The target: well under 1 ms for a chat line and under
10 ms for a message of 4,000 characters (chat.max_message_length).
Run: .venv/bin/python bench/recognize.py
"""

from __future__ import annotations

import sys
import timeit
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from policies import PolicySet  # noqa: E402
from policies.normalize import words  # noqa: E402
from tests.policies.test_policy_recognition import EXPECTED  # noqa: E402

CHAT_LINE = "Dzień dobry, proszę o zmianę adresu e-mail dla domeny example.pl"


def long_message() -> str:
    sentences = [text for texts in EXPECTED.values() for text in texts]
    message = ""
    while len(message) < 4000:
        message += " ".join(sentences) + " Pozdrawiam, Jan Kowalski (jan@example.pl). "
    return message[:4000]


def best_ms(call: Callable[[], object], number: int) -> float:
    """The best of five runs: the machine's noise only ever adds."""
    return min(timeit.repeat(call, number=number, repeat=5)) / number * 1000


def main() -> None:
    policies = PolicySet.load()
    print("| message | words only (ms) | recognised (ms) | ratio |\n|---|---|---|---|")
    for name, text, number in (
        (f"chat line, {len(CHAT_LINE)} characters", CHAT_LINE, 2000),
        ("4,000 characters", long_message(), 50),
    ):
        bare = best_ms(lambda text=text: words(text), number)
        full = best_ms(lambda text=text: policies.recognize(text), number)
        print(f"| {name} | {bare:.3f} | {full:.3f} | {full / bare:.1f}× |")


if __name__ == "__main__":
    main()
