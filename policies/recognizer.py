"""Rank the intents whose patterns occur in a message, and guess the message's language.

Ranking is where fail-closed recognition lives: any change intent outranks every question,
whatever the scores, so a question that also asks for a change is treated as the change. Within
a kind, a specific intent outranks the catch-all; among specific ones, the longest matched
pattern wins, then the most patterns matched in one language, then the order of declaration.

Where no change matched, the shape of the message still counts: a request being made ("please",
"could you", an imperative: each language's ``requests`` and ``actions``) about a target (a
domain, an e-mail address, an IP, a service id, an account number) is the catch-all change,
unless a specific question intent matched. A specific question is one too when it also names a
destination (an e-mail address, an IP, an account number), or when one of its clauses holds an
action and asks no specific question ("When does example.pl expire? Then release it."): a
question needs stage 1 only, so nothing to be done may ride on one. Words the patterns never
thought of cannot carry a change past it.
"""

from __future__ import annotations

from collections.abc import Sequence

from policies.matcher import Matcher
from policies.model import Intent, IntentKind, Language, Recognition
from policies.normalize import DESTINATION_MARKERS, TARGET_MARKERS, clauses, words
from policies.pattern import Pattern, parse

NOTHING_MATCHED = "general_question"
"""Intent named when nothing matched and the policies declare no catch-all question."""

Score = tuple[int, int]
"""(words in the longest matched pattern, most patterns matched in one language)."""

_PATTERN_WEIGHT = 2
"""A matched pattern says more about the language than one common word does."""


class Recognizer:
    """Precompiled recognition for one fixed set of intents; pure after construction."""

    __slots__ = (
        "_actions",
        "_catch_all_change",
        "_fallback",
        "_intents",
        "_languages",
        "_matcher",
        "_owners",
        "_patterns",
        "_requests",
    )

    def __init__(self, intents: Sequence[Intent], languages: Sequence[Language]) -> None:
        if not languages:
            raise ValueError("at least one language is needed to recognise anything")
        self._intents = tuple(intents)
        # The default language goes first, so that it wins every tie.
        self._languages = tuple(sorted(languages, key=lambda language: not language.default))
        patterns: list[Pattern] = []
        owners: list[int] = []
        for order, intent in enumerate(self._intents):
            for language, sources in intent.patterns.items():
                for source in sources:
                    patterns.append(parse(source, language))
                    owners.append(order)
        self._patterns = tuple(patterns)
        self._owners = tuple(owners)
        self._matcher = Matcher(self._patterns)
        fallback = [
            intent.name
            for intent in self._intents
            if intent.catch_all and intent.kind is IntentKind.QUESTION
        ]
        self._fallback = fallback[0] if fallback else NOTHING_MATCHED
        changes = [i for i in self._intents if i.catch_all and i.kind is IntentKind.CHANGE]
        self._catch_all_change = changes[0] if changes else None
        actions = [parse(s, lang.code) for lang in self._languages for s in lang.actions]
        requests = [parse(s, lang.code) for lang in self._languages for s in lang.requests]
        self._requests = Matcher([*requests, *actions])
        self._actions = Matcher(actions)

    def recognize(self, text: str) -> Recognition:
        text_words = words(text)
        indexes = self._matcher.matches(text_words)
        matched = [self._patterns[index] for index in indexes]
        owners = [self._owners[index] for index in indexes]
        scores = self._scores(matched, owners)
        ranked = sorted(scores, key=lambda order: self._rank_key(order, scores[order]))
        language = self._language(text_words, matched)
        if self._requested_by_shape(text, text_words, ranked) and self._catch_all_change:
            change = self._catch_all_change
            return Recognition(change.name, IntentKind.CHANGE, False, (change.name,), language)
        if not ranked:
            return Recognition(self._fallback, IntentKind.QUESTION, False, (), language)
        best = self._intents[ranked[0]]
        return Recognition(
            intent=best.name,
            kind=best.kind,
            ambiguous=self._ambiguous(ranked, scores),
            candidates=tuple(self._intents[order].name for order in ranked),
            language=language,
        )

    def _requested_by_shape(
        self, text: str, text_words: Sequence[str], ranked: Sequence[int]
    ) -> bool:
        """No change matched, yet the message asks for something to be done about a target; or
        a question about a service also names somewhere to send something (an e-mail address,
        an IP, an account number), which questions have no use for, or asks in a clause of its
        own for something to be done."""
        question = False
        for order in ranked:
            intent = self._intents[order]
            if intent.kind is IntentKind.CHANGE:
                return False
            question = question or not intent.catch_all
        if question:
            return not DESTINATION_MARKERS.isdisjoint(text_words) or self._asks_action(text)
        if TARGET_MARKERS.isdisjoint(text_words):
            return False
        return bool(self._requests.matches(text_words))

    def _asks_action(self, text: str) -> bool:
        """Some clause holds an action and no specific question: the action is asked for, not
        asked about ("what is the status of the transfer" keeps its verb inside the question)."""
        for clause in clauses(text):
            if self._actions.matches(clause) and not self._asks_question(clause):
                return True
        return False

    def _asks_question(self, clause: Sequence[str]) -> bool:
        for index in self._matcher.matches(clause):
            intent = self._intents[self._owners[index]]
            if intent.kind is IntentKind.QUESTION and not intent.catch_all:
                return True
        return False

    @staticmethod
    def _scores(matched: Sequence[Pattern], owners: Sequence[int]) -> dict[int, Score]:
        specificity: dict[int, int] = {}
        per_language: dict[tuple[int, str], int] = {}
        for pattern, owner in zip(matched, owners, strict=True):
            specificity[owner] = max(specificity.get(owner, 0), pattern.specificity)
            key = (owner, pattern.language)
            per_language[key] = per_language.get(key, 0) + 1
        # The same evidence often matches a pattern of each language ("transfer" is Polish
        # too), so patterns are counted within one language only.
        count: dict[int, int] = {}
        for (owner, _), matches in per_language.items():
            count[owner] = max(count.get(owner, 0), matches)
        return {owner: (best, count[owner]) for owner, best in specificity.items()}

    def _rank_key(self, order: int, score: Score) -> tuple[bool, bool, int, int, int]:
        intent = self._intents[order]
        specificity, count = score
        return (intent.kind is not IntentKind.CHANGE, intent.catch_all, -specificity, -count, order)

    def _ambiguous(self, ranked: Sequence[int], scores: dict[int, Score]) -> bool:
        specific = [
            scores[order]
            for order in ranked
            if self._intents[order].kind is IntentKind.CHANGE and not self._intents[order].catch_all
        ]
        return len(specific) >= 2 and specific[0] == specific[1]

    def _language(self, text_words: Sequence[str], matched: Sequence[Pattern]) -> str:
        best_code, best_score = self._languages[0].code, -1
        for language in self._languages:
            score = _PATTERN_WEIGHT * sum(1 for p in matched if p.language == language.code)
            score += sum(map(language.words.__contains__, text_words))
            if score > best_score:
                best_code, best_score = language.code, score
        return best_code
