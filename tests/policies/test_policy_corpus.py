"""Recognition quality over labelled corpora of real-looking client messages, in three splits:

- ``corpus.jsonl``: the first corpus (303 lines), written before the bundled patterns existed,
  with "hard negatives": questions that use change words ("how long does a domain transfer
  take?"), labelled general_question. The recogniser is expected to get many of them wrong in
  the safe direction, which is why the general_question recall floor is low.
- ``corpus_evasive.jsonl``: 130 change requests phrased to slip past a keyword recogniser
  (synonyms, statements that imply a request, look-alike letters, zero-width characters,
  spaced-out letters, several changes in one message), written by someone who had not seen the
  patterns. The patterns were tuned on these two splits.
- ``corpus_heldout.jsonl``: 150 lines (50 evasive) written the same way, which the patterns were
  never tuned on and whose texts are never printed: its tests report numbers only, so that
  reading a failure does not turn it into a tuning set.

The tables are printed on every run (and in any failure message):
    .venv/bin/python -m pytest tests/policies/test_policy_corpus.py -s
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from policies import Channel, IntentKind, PolicySet, Recognition, Requirement

HERE = Path(__file__).parent
TUNING = ("corpus.jsonl", "corpus_evasive.jsonl")
HELD_OUT = ("corpus_heldout.jsonl", "corpus_heldout_evasive.jsonl")

# Floors set from what the bundled policies reach (see the printed tables), with a little
# slack; raising them is welcome, lowering them needs a reason.
RECALL_FLOOR = {"corpus.jsonl": 0.9, "corpus_evasive.jsonl": 0.78}
GENERAL_QUESTION_RECALL_FLOOR = 0.55  # hard negatives are meant to fail closed
MACRO_PRECISION_FLOOR = 0.88
ACCURACY_FLOOR = 0.88
LANGUAGE_ACCURACY_FLOOR = 0.95
# Of the held-out change requests, the share held for authentication, and its accuracy: what a
# recogniser tuned elsewhere reaches (it is a convenience; the gate is the verified request).
HELD_OUT_CHANGES_HELD_FLOOR = 0.95
HELD_OUT_ACCURACY_FLOOR = 0.65


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    intent: str
    lang: str
    evasive: bool = False


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
        """Over the intents the split has examples of (one predicted but never labelled there
        is a false positive of some labelled intent, counted there already)."""
        labelled = [self.precision[name] for name in self.support]
        return sum(labelled) / len(labelled)


def load(name: str) -> list[Example]:
    lines = (HERE / name).read_text(encoding="utf-8").splitlines()
    return [Example(**json.loads(line)) for line in lines if line.strip()]


def score(examples: list[Example], results: list[Recognition], title: str) -> Scores:
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
    rows = [title, f"{'intent':<20} {'precision':>9} {'recall':>7} {'support':>8}"]
    rows += [f"{n:<20} {precision[n]:>9.2f} {recall[n]:>7.2f} {support[n]:>8}" for n in names]
    accuracy = sum(hits.values()) / len(examples)
    language_accuracy = languages_right / len(examples)
    labelled = [precision[name] for name in support]
    rows.append(f"macro precision {sum(labelled) / len(labelled):.3f} (over labelled intents)")
    rows.append(f"accuracy {accuracy:.3f}  language accuracy {language_accuracy:.3f}")
    return Scores(precision, recall, support, accuracy, language_accuracy, "\n".join(rows))


def changes_of(policies: PolicySet) -> set[str]:
    return {i.name for i in policies.intents if i.kind is IntentKind.CHANGE}


def held(policies: PolicySet, text: str) -> bool:
    """Held for authentication on every channel, as a change."""
    for channel in Channel:
        decision = policies.decide(policies.recognize(text), channel)
        if decision.requirement is not Requirement.AUTHENTICATED or not decision.is_change:
            return False
    return True


@pytest.fixture(scope="module")
def tuning() -> list[Example]:
    return [example for name in TUNING for example in load(name)]


class HeldOut(list[Example]):
    """Its repr names no text, so a failing test cannot show one (pytest prints arguments)."""

    def __repr__(self) -> str:
        return f"<{len(self)} held-out examples>"


def load_held_out() -> HeldOut:
    return HeldOut(example for name in HELD_OUT if (HERE / name).exists() for example in load(name))


def test_corpus_is_big_balanced_and_a_third_evasive(
    tuning: list[Example], bundled: PolicySet
) -> None:
    # Numbers first, then assertions on them: pytest would print a list it compares.
    held_out = load_held_out()
    everything = HeldOut(tuning + held_out)
    total, held_count = len(everything), len(held_out)
    evasive = sum(example.evasive for example in everything)
    languages = Counter(example.lang for example in everything)
    unknown = sorted({example.intent for example in everything} - {i.name for i in bundled.intents})
    distinct = len({example.text for example in everything})
    tuned = {example.text for example in tuning}
    leaked = sum(example.text in tuned for example in held_out)
    assert total >= 300 and held_count >= 100
    assert evasive >= total / 3, f"{evasive} evasive of {total}"
    assert set(languages) == {"pl", "en"}
    assert min(languages.values()) / total > 0.4
    assert not unknown, unknown
    assert distinct == total, "duplicate texts"
    assert leaked == 0, "a held-out text is tuned on"


def test_every_tuning_change_request_needs_authentication(
    tuning: list[Example], bundled: PolicySet
) -> None:
    """The safety property: no labelled change request may reach staff unverified."""
    changes = changes_of(bundled)
    slipped = [
        f"{example.text!r} -> {bundled.recognize(example.text).intent}"
        for example in tuning
        if example.intent in changes and not held(bundled, example.text)
    ]
    assert not slipped, "change requests not held for authentication:\n" + "\n".join(slipped)


@pytest.mark.parametrize("name", TUNING)
def test_precision_and_recall(
    name: str, bundled: PolicySet, capsys: pytest.CaptureFixture[str]
) -> None:
    examples = load(name)
    results = [bundled.recognize(example.text) for example in examples]
    scores = score(examples, results, f"-- {name} (tuned on)")
    with capsys.disabled():
        print(f"\n{scores.table}")
    low_recall = {
        intent: value
        for intent, value in scores.recall.items()
        if scores.support[intent]
        and value
        < (GENERAL_QUESTION_RECALL_FLOOR if intent == "general_question" else RECALL_FLOOR[name])
    }
    assert not low_recall, f"recall below floor: {low_recall}\n{scores.table}"
    assert scores.macro_precision >= MACRO_PRECISION_FLOOR, scores.table
    assert scores.accuracy >= ACCURACY_FLOOR, scores.table
    assert scores.language_accuracy >= LANGUAGE_ACCURACY_FLOOR, scores.table


def test_held_out_split_in_numbers_only(
    bundled: PolicySet, capsys: pytest.CaptureFixture[str]
) -> None:
    """Never tuned on: the table and the share of change requests held, and no text."""
    held_out = load_held_out()
    results = [bundled.recognize(example.text) for example in held_out]
    scores = score(held_out, results, f"-- {' + '.join(HELD_OUT)} (never tuned on)")
    changes = changes_of(bundled)
    wanted = [example for example in held_out if example.intent in changes]
    kept = sum(held(bundled, example.text) for example in wanted)
    evasive = [example for example in wanted if example.evasive]
    kept_evasive = sum(held(bundled, example.text) for example in evasive)
    summary = (
        f"{scores.table}\nchange requests held for authentication: {kept}/{len(wanted)} "
        f"(evasive {kept_evasive}/{len(evasive)})"
    )
    with capsys.disabled():
        print(f"\n{summary}")
    share, accuracy = kept / len(wanted), scores.accuracy
    assert share >= HELD_OUT_CHANGES_HELD_FLOOR, summary
    assert accuracy >= HELD_OUT_ACCURACY_FLOOR, summary
