"""Bot replies, written by translators in one Jinja2 file per language and channel:
templates/replies/ for the chat (autoescaped), templates/mail/ for e-mail (plain text).

Both files define the same macros, so a step names the reply and the conversation's channel
picks the wording ("the secure form below" in the chat, "Login:/Code: lines" by mail).
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from policies import Channel

LANGUAGES = ("pl", "en")
DEFAULT_LANGUAGE = "pl"
# The hotline's transcript is read by the agent in the console: the chat's words, escaped.
_FOLDERS = {Channel.CHAT: "replies", Channel.EMAIL: "mail", Channel.PHONE: "replies"}


def pick_language(wanted: str | None) -> str:
    return wanted if wanted in LANGUAGES else DEFAULT_LANGUAGE


class Replies:
    def __init__(self) -> None:
        # The chat's replies are autoescaped even though the widget inserts text, never HTML:
        # a second line of defence. Mail is text/plain, built by the email package, where
        # HTML escaping would only garble it.
        chat = Environment(
            loader=PackageLoader("gateway", "templates"),
            autoescape=True,
            undefined=StrictUndefined,
        )
        mail = Environment(
            loader=PackageLoader("gateway", "templates"),
            autoescape=False,  # noqa: S701 - text/plain mail, never rendered as HTML
            undefined=StrictUndefined,
            keep_trailing_newline=True,
        )
        environments = {Channel.CHAT: chat, Channel.EMAIL: mail, Channel.PHONE: chat}
        self._modules = {
            (channel, language): environments[channel]
            .get_template(f"{folder}/{language}.j2")
            .module
            for channel, folder in _FOLDERS.items()
            for language in LANGUAGES
        }

    def render(
        self, language: str, name: str, channel: Channel = Channel.CHAT, **params: Any
    ) -> str:
        macro = getattr(self._modules[(channel, pick_language(language))], name)
        return str(macro(**params)).strip()
