"""Everything one client message says, worked out before any decision and without I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.credentials import Credentials, parse_credentials
from gateway.identifiers import FoundIdentifier, find_identifiers
from gateway.service_names import find_service_names
from policies import Channel, Decision, PolicySet

MAX_ANALYSED_CHARS = 64 * 1024
_CANCEL = re.compile(
    r"^\W*(anuluj\w*|rezygnuj\w*|cancel\w*|never\s*mind|nevermind|stop)\W*$", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class Analysis:
    decision: Decision
    language: str
    services: tuple[str, ...]
    identifiers: tuple[FoundIdentifier, ...]
    credentials: Credentials | None
    cancel: bool

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
        decision=policies.decide(recognition, channel),
        language=recognition.language,
        services=tuple(find_service_names(text)),
        identifiers=tuple(find_identifiers(text)),
        credentials=form or parse_credentials(text),
        cancel=bool(_CANCEL.match(text)),
    )
