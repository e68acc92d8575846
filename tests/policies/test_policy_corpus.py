"""Recognition quality over a labelled corpus of real-looking client messages.

The corpus was written before the bundled patterns were tuned and is not edited to suit them:
the first 263 lines before any pattern existed, the last 40 as a held-out check after a first
round of tuning (they then exposed two change requests that slipped through, since fixed in
the patterns, not in the labels).
It deliberately holds "hard negatives": questions that use change words ("how long does a
domain transfer take?"). Those are labelled general_question, and the recogniser is expected
to get many of them wrong in the safe direction (treating them as changes), which is why the
general_question recall floor is low while the change recall is absolute.

The table is printed on every run (and in any failure message):
    .venv/bin/python -m pytest tests/policies/test_policy_corpus.py -s
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from policies import Channel, IntentKind, PolicySet, Recognition, Requirement

CORPUS = Path(__file__).with_name("corpus.jsonl")

# Floors set from what the bundled policies reach (see the printed table), with a little
# slack; raising them is welcome, lowering them needs a reason.
RECALL_FLOOR = 0.93
GENERAL_QUESTION_RECALL_FLOOR = 0.6  # hard negatives are meant to fail closed
MACRO_PRECISION_FLOOR = 0.9
ACCURACY_FLOOR = 0.9
LANGUAGE_ACCURACY_FLOOR = 0.95


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    intent: str
    lang: str


@dataclass(frozen=True, slots=True)
class Scores:
    precision: dict[str, float]
    recall: dict[str, float]
    support: Counter[str]
    accuracy: float
    language_accuracy: float
    table: str

    @property
    def macro_precision(self) -> float:
        return sum(self.precision.values()) / len(self.precision)


def load_corpus() -> list[Example]:
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    return [Example(**json.loads(line)) for line in lines if line.strip()]


def score(examples: list[Example], results: list[Recognition]) -> Scores:
    hits: Counter[str] = Counter()
    predicted: Counter[str] = Counter()
    support: Counter[str] = Counter()
    languages_right = 0
    for example, result in zip(examples, results, strict=True):
        support[example.intent] += 1
        predicted[result.intent] += 1
        hits[example.intent] += result.intent == example.intent
        languages_right += result.language == example.lang
    names = sorted(set(support) | set(predicted))
    precision = {n: hits[n] / predicted[n] if predicted[n] else 0.0 for n in names}
    recall = {n: hits[n] / support[n] if support[n] else 0.0 for n in names}
    rows = [f"{'intent':<20} {'precision':>9} {'recall':>7} {'support':>8}"]
    rows += [f"{n:<20} {precision[n]:>9.2f} {recall[n]:>7.2f} {support[n]:>8}" for n in names]
    accuracy = sum(hits.values()) / len(examples)
    language_accuracy = languages_right / len(examples)
    rows.append(f"macro precision {sum(precision.values()) / len(names):.3f}")
    rows.append(f"accuracy {accuracy:.3f}  language accuracy {language_accuracy:.3f}")
    return Scores(precision, recall, support, accuracy, language_accuracy, "\n".join(rows))


@pytest.fixture(scope="module")
def examples() -> list[Example]:
    return load_corpus()


def test_corpus_is_big_and_balanced(examples: list[Example], bundled: PolicySet) -> None:
    assert len(examples) >= 220
    languages = Counter(example.lang for example in examples)
    assert set(languages) == {"pl", "en"}
    assert min(languages.values()) / len(examples) > 0.4
    known = {intent.name for intent in bundled.intents}
    assert {example.intent for example in examples} <= known
    assert len({example.text for example in examples}) == len(examples), "duplicate texts"


def test_every_change_request_needs_authentication(
    examples: list[Example], bundled: PolicySet
) -> None:
    """The safety property: no labelled change request may reach staff unverified."""
    changes = {i.name for i in bundled.intents if i.kind is IntentKind.CHANGE}
    slipped = [
        f"{channel}: {example.text!r} -> {decision.intent} ({decision.requirement})"
        for example in examples
        if example.intent in changes
        for channel in Channel
        if (decision := bundled.decide(bundled.recognize(example.text), channel)).requirement
        is not Requirement.AUTHENTICATED
        or not decision.is_change
    ]
    assert not slipped, "change requests not held for authentication:\n" + "\n".join(slipped)


def test_precision_and_recall(
    examples: list[Example], bundled: PolicySet, capsys: pytest.CaptureFixture[str]
) -> None:
    scores = score(examples, [bundled.recognize(example.text) for example in examples])
    with capsys.disabled():
        print(f"\n{scores.table}")
    low_recall = {
        name: value
        for name, value in scores.recall.items()
        if scores.support[name]
        and value < (GENERAL_QUESTION_RECALL_FLOOR if name == "general_question" else RECALL_FLOOR)
    }
    assert not low_recall, f"recall below floor: {low_recall}\n{scores.table}"
    assert scores.macro_precision >= MACRO_PRECISION_FLOOR, scores.table
    assert scores.accuracy >= ACCURACY_FLOOR, scores.table
    assert scores.language_accuracy >= LANGUAGE_ACCURACY_FLOOR, scores.table
