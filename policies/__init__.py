"""Which client requests need which verification: declarative policies and their evaluator.

Operators describe intents in TOML files (see ``policies/default/``); :class:`PolicySet`
recognises the intent of a message and decides, failing closed, what the client must prove.
"""

from policies.model import (
    Channel,
    Decision,
    Duties,
    Intent,
    IntentKind,
    Language,
    PolicyError,
    Problem,
    Recognition,
    Requirement,
)
from policies.normalize import strip_diacritics
from policies.policyset import PolicySet, bundled_path, check

__all__ = [
    "Channel",
    "Decision",
    "Duties",
    "Intent",
    "IntentKind",
    "Language",
    "PolicyError",
    "PolicySet",
    "Problem",
    "Recognition",
    "Requirement",
    "bundled_path",
    "check",
    "strip_diacritics",
]
