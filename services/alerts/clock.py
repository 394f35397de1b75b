"""What time it is for a rule: the watermark of the source family it waits for (`watermarks.py`).

Deadlines, checkpoints and parked checks name a family and a moment; they act once the family's
watermark has reached that moment. Moments are compared as UTC strings `YYYY-MM-DDTHH:MM:SS`
(`key`), one string comparison per check: the due index is scanned whenever time moves."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import lru_cache

from services.runtime.calendar import start_of

_FORMAT = "%Y-%m-%dT%H:%M:%S"
NEVER = ""  # before every key


def key(moment: dt.datetime) -> str:
    """The comparable form of an aware instant (UTC, second resolution)."""
    if moment.year < 1900:
        return NEVER
    return moment.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds")


@lru_cache(maxsize=16384)
def day_key(day: str | dt.date) -> str:
    """The start of a Beijing calendar day (00:00 CST), comparable."""
    return key(start_of(dt.date.fromisoformat(day) if isinstance(day, str) else day))


def event_key(iso: str) -> str:
    """The comparable form of an event time on the wire (ISO 8601 with offset)."""
    return key(dt.datetime.fromisoformat(iso))


def parse(k: str) -> dt.datetime | None:
    return dt.datetime.strptime(k, _FORMAT).replace(tzinfo=dt.UTC) if k else None


class Now:
    """The watermarks of one message: family → comparable moment."""

    def __init__(self, marks: Mapping[str, str]) -> None:
        self.marks = dict(marks)

    def reached(self, family: str, moment: str) -> bool:
        mark = self.marks.get(family, NEVER)
        return mark != NEVER and moment <= mark

    def at(self, family: str) -> dt.datetime | None:
        return parse(self.marks.get(family, NEVER))
