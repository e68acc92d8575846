"""One timestamp format for everything that leaves the process: ISO 8601 in UTC with a "Z"."""

from __future__ import annotations

from datetime import datetime
from typing import overload


@overload
def iso(moment: datetime) -> str: ...


@overload
def iso(moment: None) -> None: ...


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None
