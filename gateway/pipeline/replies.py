"""Bot replies, written by translators in one Jinja2 file per language (templates/replies/)."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

LANGUAGES = ("pl", "en")
DEFAULT_LANGUAGE = "pl"


def pick_language(wanted: str | None) -> str:
    return wanted if wanted in LANGUAGES else DEFAULT_LANGUAGE


class Replies:
    def __init__(self) -> None:
        # Autoescaped even though the widget inserts text, never HTML: a second line of defence.
        environment = Environment(
            loader=PackageLoader("gateway", "templates/replies"),
            autoescape=True,
            undefined=StrictUndefined,
            keep_trailing_newline=False,
        )
        self._modules = {
            language: environment.get_template(f"{language}.j2").module for language in LANGUAGES
        }

    def render(self, language: str, name: str, **params: Any) -> str:
        macro = getattr(self._modules[pick_language(language)], name)
        return str(macro(**params)).strip()
