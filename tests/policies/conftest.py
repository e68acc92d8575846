"""Shared fixtures: the bundled policy set, and a writer for small policy folders."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from policies import PolicySet

LANGUAGES = """\
[language.pl]
default = true
words = ["jest", "nie", "czy"]

[language.en]
words = ["the", "is", "my"]
"""

CATCH_ALLS = """\
[[intent]]
name = "other_change"
kind = "change"
description = "Anything else that changes something."
requires = { chat = "authenticated", email = "authenticated" }
catch_all = true

[intent.match]
en = ["change*"]

[[intent]]
name = "general_question"
kind = "question"
description = "Nothing specific."
requires = { chat = "none", email = "none" }
catch_all = true
"""


@pytest.fixture(scope="session")
def bundled() -> PolicySet:
    return PolicySet.load()


@pytest.fixture
def write_folder(tmp_path: Path) -> Callable[..., Path]:
    """Write files (name → TOML text) into a fresh folder; a valid base is added unless told."""

    def write(files: dict[str, str] | None = None, *, base: bool = True) -> Path:
        folder = tmp_path / "policies"
        folder.mkdir(exist_ok=True)
        contents = {"00-languages.toml": LANGUAGES, "00-catch-all.toml": CATCH_ALLS} if base else {}
        contents.update(files or {})
        for name, text in contents.items():
            (folder / name).write_text(textwrap.dedent(text), encoding="utf-8")
        return folder

    return write
