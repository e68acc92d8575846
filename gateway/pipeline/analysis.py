"""Everything one client message says, worked out before any decision and without I/O."""

from __future__ import annotations

import re

from gateway.credentials import Credentials, parse_credentials
from gateway.identifiers import FoundIdentifier, find_identifiers
from gateway.service_names import find_service_names
from policies import Channel, Decision, PolicySet

MAX_ANALYSED_CHARS = 64 * 1024
_CANCEL = re.compile(
    r"^\W*(anuluj\w*|rezygnuj\w*|cancel\w*|never\s*mind|nevermind|stop)\W*$", re.IGNORECASE
)


class Analysis:
    """The service names and national numbers in a message are looked for only when a step
    asks: most chat lines are conversation, and scanning each for them would be wasted work."""

    __slots__ = (
        "cancel",
        "credentials",
        "decision",
        "language",
        "_identifiers",
        "_services",
        "_text",
    )

    def __init__(
        self,
        decision: Decision,
        language: str,
        *,
        credentials: Credentials | None = None,
        cancel: bool = False,
        text: str = "",
        services: tuple[str, ...] | None = None,
        identifiers: tuple[FoundIdentifier, ...] | None = None,
    ) -> None:
        self.decision = decision
        self.language = language
        self.credentials = credentials
        self.cancel = cancel
        self._text = text
        self._services = services
        self._identifiers = identifiers

    @property
    def services(self) -> tuple[str, ...]:
        if self._services is None:
            self._services = tuple(find_service_names(self._text))
        return self._services

    @property
    def identifiers(self) -> tuple[FoundIdentifier, ...]:
        if self._identifiers is None:
            self._identifiers = tuple(find_identifiers(self._text))
        return self._identifiers

    @property
    def valid_identifiers(self) -> tuple[FoundIdentifier, ...]:
        return tuple(found for found in self.identifiers if found.valid)


def analyse(
    policies: PolicySet, channel: Channel, text: str, form: Credentials | None = None
) -> Analysis:
    """Reads at most MAX_ANALYSED_CHARS: a request is stated at the top, and an e-mail body
    may be megabytes of quoted history."""
    text = text[:MAX_ANALYSED_CHARS]
    recognition = policies.recognize(text)
    return Analysis(
        policies.decide(recognition, channel),
        recognition.language,
        credentials=form or parse_credentials(text),
        cancel=bool(_CANCEL.match(text)),
        text=text,
    )
