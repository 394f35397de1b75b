"""One injectable clock for deadlines and checkpoints.

- Live (`wall`): now is the wall-clock time.
- Replay (`event`): now is the event-time watermark of the stream that carries the work a
  deadline waits for (`indicator/410324`: the county's indicator events; `ledger/410324`:
  what the ledger booked for the county). Topics are ordered per fiscal unit, so when that
  stream has passed a deadline every earlier piece of work on it has been seen — replaying a
  year in seconds raises the bells and escalations a live run would have raised, whatever
  the relative speed of the other topics.

Streams are named `<family>/<fiscal unit>`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class ClockMode(StrEnum):
    wall = "wall"
    event = "event"


def stream(family: str, region: str) -> str:
    return f"{family}/{region[:6]}"


@dataclass(frozen=True)
class Clock:
    """What time it is, per stream. `marks` are event-time watermarks; `wall` the wall time."""

    mode: ClockMode
    wall: dt.datetime
    marks: Mapping[str, dt.datetime] = field(default_factory=dict)

    def now(self, stream_name: str) -> dt.datetime | None:
        if self.mode == ClockMode.wall:
            return self.wall
        return self.marks.get(stream_name)

    def latest(self) -> dt.datetime:
        """The furthest point in time anything has reached (for stamping transitions)."""
        if self.mode == ClockMode.wall or not self.marks:
            return self.wall
        return max(self.marks.values())


class Progress:
    """Event-time watermarks per stream, as the router sees events go by (monotonic)."""

    def __init__(self) -> None:
        self.marks: dict[str, dt.datetime] = {}
        self._changed: dict[str, dt.datetime] = {}

    def observe(self, stream_name: str, at: dt.datetime) -> None:
        current = self.marks.get(stream_name)
        if current is None or at > current:
            self.marks[stream_name] = at
            self._changed[stream_name] = at

    def furthest(self) -> str | None:
        return max(self.marks.values()).isoformat() if self.marks else None

    def drain(self) -> dict[str, str]:
        """Streams that advanced since the last drain, as ISO strings (for the wire)."""
        changed, self._changed = self._changed, {}
        return {k: v.isoformat() for k, v in changed.items()}


def merge_marks(marks: dict[str, str], update: Mapping[str, str]) -> bool:
    """Fold watermark updates (ISO strings) into `marks`, keeping the later one; True if any moved."""
    moved = False
    for name, value in update.items():
        current = marks.get(name)
        if current is None or dt.datetime.fromisoformat(value) > dt.datetime.fromisoformat(current):
            marks[name] = value
            moved = True
    return moved



def flush_marks(marks: dict[str, str], furthest: str | None = None) -> bool:
    """The input has been read to its end (every partition caught up — the ledger's derived
    stream included — and nothing new for a while): a stream that fell silent earlier is complete
    up to where the whole input got. Moves every stream to the furthest mark, so the deadlines and
    checkpoints after a county's last event are decided too: a replay that ends does what a live
    run does as the days pass. On the partition's own marks, so a restarted router (which has
    seen only part of the input) flushes every stream as well."""
    known = [dt.datetime.fromisoformat(v) for v in marks.values()]
    if furthest:
        known.append(dt.datetime.fromisoformat(furthest))
    if not known:
        return False
    top = max(known).isoformat()
    return merge_marks(marks, dict.fromkeys(marks, top))
