"""What a request is about, so that one verification covers one request and nothing more.

A held or verified request has a scope: the kinds of change it asks for, the services it names
and the destinations it sends things to. A later client line that reaches beyond it (another
kind of change, another service, another destination) is a request of its own with its own
ticket and code. Services and destinations are read by shape, not by the recogniser, so a
phrasing the recogniser misses still cannot ride on someone's verification.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from gateway.storage.models import ChangeRequest


@dataclass(frozen=True, slots=True)
class Scope:
    intents: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    destinations: tuple[str, ...] = ()

    def covers(self, line: Scope, *, identifying: bool = False) -> bool:
        """Whether `line` asks for nothing beyond this scope. While stage 1 is open, naming
        services is the answer to it, not a new request."""
        services = set(line.services) <= set(self.services) or (identifying and not self.services)
        return (
            services
            and set(line.intents) <= set(self.intents)
            and set(line.destinations) <= set(self.destinations)
        )

    def reaches_beyond(self, line: Scope, *, identifying: bool = False) -> bool:
        """Names a service or destination this scope does not: a request of its own, even if
        no intent was recognised in it."""
        new_services = not set(line.services) <= set(self.services) and not (
            identifying and not self.services
        )
        return new_services or not set(line.destinations) <= set(self.destinations)

    def widened(self, line: Scope) -> Scope:
        return Scope(
            _union(self.intents, line.intents),
            _union(self.services, line.services),
            _union(self.destinations, line.destinations),
        )


def _union(first: tuple[str, ...], second: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*first, *second)))


def scope_of(request: ChangeRequest) -> Scope:
    return Scope(
        tuple(json.loads(request.intents or "[]")) or (request.intent,),
        tuple(json.loads(request.services or "[]")),
        tuple(json.loads(request.destinations or "[]")),
    )


def store_scope(request: ChangeRequest, scope: Scope) -> None:
    request.intents = json.dumps(list(scope.intents))
    request.services = json.dumps(list(scope.services))
    request.destinations = json.dumps(list(scope.destinations))
