"""Everything one client message says, worked out before any decision and without I/O."""

from __future__ import annotations

import re

from gateway.credentials import Credentials, parse_credentials
from gateway.destinations import find_destinations
from gateway.identifiers import FoundIdentifier, find_identifiers
from gateway.pipeline.scope import Scope
from gateway.service_names import find_service_names, normalize_service_name
from policies import Channel, Decision, PolicySet, Requirement

# A chat line is at most 4,000 characters; an e-mail's text is bounded by mail.parse (its own
# words 64 Ki; all else it shows well under 576 Ki), and all of it is classified: staff are
# shown no more than was read, so nothing they read may be cut off here.
MAX_ANALYSED_CHARS = 640 * 1024
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
        "_destinations",
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
        destinations: tuple[str, ...] | None = None,
    ) -> None:
        self.decision = decision
        self.language = language
        self.credentials = credentials
        self.cancel = cancel
        self._text = text
        self._services = services
        self._identifiers = identifiers
        self._destinations = destinations

    @property
    def services(self) -> tuple[str, ...]:
        """Every service the message names, in order; the login it gives is not one."""
        if self._services is None:
            login = self.credentials.login if self.credentials else None
            own = normalize_service_name(login) if login else None
            names = find_service_names(self._text)
            self._services = tuple(name for name in names if name != own)
        return self._services

    @property
    def destinations(self) -> tuple[str, ...]:
        if self._destinations is None:
            login = self.credentials.login.lower() if self.credentials else None
            found = find_destinations(self._text)
            self._destinations = tuple(found for found in found if found != login)
        return self._destinations

    @property
    def asks(self) -> bool:
        """Recognised as needing more than nothing: a change, or a question about a service."""
        return self.decision.requirement is not Requirement.NONE

    @property
    def scope(self) -> Scope:
        intents = self.decision.scope if self.asks else ()
        return Scope(intents, self.services, self.destinations)

    @property
    def identifiers(self) -> tuple[FoundIdentifier, ...]:
        if self._identifiers is None:
            self._identifiers = tuple(find_identifiers(self._text))
        return self._identifiers

    @property
    def valid_identifiers(self) -> tuple[FoundIdentifier, ...]:
        return tuple(found for found in self.identifiers if found.valid)


def analyse(
    policies: PolicySet,
    channel: Channel,
    text: str,
    form: Credentials | None = None,
    said: str | None = None,
) -> Analysis:
    """`text`: the client's own words, where credentials are read; `said`: everything staff
    will read of the message (an e-mail's subject, quotes, other parts), all of it classified.
    Reads at most MAX_ANALYSED_CHARS."""
    text = text[:MAX_ANALYSED_CHARS]
    said = text if said is None else said[:MAX_ANALYSED_CHARS]
    recognition = policies.recognize(said)
    return Analysis(
        policies.decide(recognition, channel),
        recognition.language,
        credentials=form or parse_credentials(text),
        cancel=bool(_CANCEL.match(text)),  # the client's own word, like the credentials
        text=said,
    )
