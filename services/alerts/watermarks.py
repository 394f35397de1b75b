"""Platform time: how far each source family is complete, from how far its partitions were read.

Upstream systems are separate (budget execution, treasury, the subsidy card, the registry) and
deliver on their own schedules, so a county's payments may arrive before the allocations they
draw on or the reference data they are checked against. A rule that depends on another source
waits until that source is *complete* up to the moment it judges: until the source's watermark
has passed it. A watermark per source family (`reference`, `indicator`, `payment`,
`performance`, and `ledger` — the ledger's postings of the indicator and payment input):

    W(f) = the time up to which every event of f that will ever arrive has arrived,
           allowing each event to arrive `lateness(f)` behind the newest of its partition.

Event time (replay, the embedded demo):
- while every input partition brings records (none read to its end and quiet for `idle_s`, none
  empty), each counts with the newest event time it has brought, less the family's lateness; the
  family's watermark is the least of its partitions';
- once a partition has gone quiet or has never brought anything, nothing more is decided: it may
  be a source that has finished, or one whose whole extraction is still to come (the demo and
  replays deliver each source's extraction on its own, sources in any order), and no bound on
  lateness holds for that;
- when the whole input has been quiet for `idle_s` (and the ledger has published everything it
  was given), the input has ended: every family is complete up to the furthest event seen.
Wall time (production): a family is complete up to now less its lateness.

The ledger's watermark is the least of the indicator and payment watermarks, held back to what
the ledger has confirmed (`ledger.progress` markers): for an input partition whose records the
ledger has not all applied, the newest event time it has applied, less the lateness.

Time moves for everyone: a county that never sends an indicator event still reaches its
deadlines, because a watermark is per family, not per county. Far-future times are refused at
ingest and cannot move a watermark: it follows the least busy partition. Pure: no I/O."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import msgspec

INPUT_FAMILIES = ("reference", "indicator", "payment", "performance")
LEDGER = "ledger"
LEDGER_INPUT = ("indicator", "payment")
NEVER = dt.datetime.min.replace(tzinfo=dt.UTC)
_NEVER_ISO = ""


class PartitionProgress(msgspec.Struct, frozen=True, array_like=True):
    """How far one input partition was read (by the router that holds it), at router wall time `at`."""

    position: int  # the next offset to route
    newest: str | None  # the newest event time routed (ISO), None: no record yet
    at_end: bool  # read to its end (and the last round brought nothing for it)
    last_record: float  # wall time a record was last routed from it (0: never)
    at: float  # wall time of this report


class LedgerPosition(msgspec.Struct, frozen=True, array_like=True):
    """What the ledger confirmed for one input partition: the next offset it applied and published,
    and the newest event time among what it applied."""

    position: int
    newest: str | None


def merge_progress(known: dict[str, PartitionProgress], update: Mapping[str, PartitionProgress]) -> bool:
    """Take the newer report per partition (several routers may hold parts of the input); True if what a
    partition says changed (a report that only repeats it at a later time is taken, but changes nothing
    worth writing: an idle platform's timer ticks write no state).

    How far a partition was read never goes back: a router that restarted (or took the partition over)
    resumes from its committed offset and knows nothing of what was routed before it, so the position
    and the newest time are the furthest either report has seen; whether it is read to its end is the
    newer report's word."""
    changed = False
    for tp, p in update.items():
        old = known.get(tp)
        if old is not None and (p.at, p.position) <= (old.at, old.position):
            continue
        if old is not None and (p.position < old.position or _later(old.newest, p.newest)):
            newest = old.newest if _later(old.newest, p.newest) else p.newest
            p = PartitionProgress(max(p.position, old.position), newest, p.at_end,
                                  max(p.last_record, old.last_record), p.at)
        known[tp] = p
        if old is None or (p.position, p.newest, p.at_end, p.last_record) != \
                (old.position, old.newest, old.at_end, old.last_record):
            changed = True
    return changed


def _later(a: str | None, b: str | None) -> bool:
    """Is event time `a` (ISO) later than `b`? (None: no record yet.)"""
    if a is None:
        return False
    if b is None:
        return True
    return dt.datetime.fromisoformat(a) > dt.datetime.fromisoformat(b)


def merge_ledger(known: dict[str, dict[str, LedgerPosition]], update: Mapping[str, Mapping[str, LedgerPosition]]
                 ) -> bool:
    """Ledger markers per ledger-topic partition: the furthest position per input partition."""
    changed = False
    for q, positions in update.items():
        mine = known.setdefault(q, {})
        for tp, pos in positions.items():
            old = mine.get(tp)
            if old is None or pos.position > old.position:
                mine[tp] = pos
                changed = True
    return changed


def family_of(tp: str) -> str:
    return tp.split(":", 1)[0]


def _parse(iso: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(iso) if iso else None


def compute(progress: Mapping[str, PartitionProgress], ledger: Mapping[str, Mapping[str, LedgerPosition]],
            *, wall: float, event_time: bool, lateness: Mapping[str, dt.timedelta], idle_s: float,
            ledger_partitions: int, input_partitions: Mapping[str, int] | None = None) -> dict[str, dt.datetime]:
    """Watermark per family (and `clock`: what the platform as a whole has reached) — see the module.
    `input_partitions`: how many partitions each input family has (the topic registry); a partition
    no router has reported on yet holds its family back (with several routers, each reports only the
    partitions it holds, and one may be heard from before the other)."""
    late = {f: lateness.get(f, dt.timedelta(0)) for f in INPUT_FAMILIES}
    confirmed = _ledger_confirmed(progress, ledger, ledger_partitions)
    if not event_time:
        now = dt.datetime.fromtimestamp(wall, dt.UTC)
        wall_marks = {f: now - late[f] for f in INPUT_FAMILIES}
        wall_marks[LEDGER] = _ledger_mark(progress, confirmed, wall_marks, late)
        wall_marks["clock"] = now
        return wall_marks
    busy: dict[str, list[dt.datetime]] = {f: [] for f in INPUT_FAMILIES}
    seen: set[str] = set()
    waiting: set[str] = set()  # families with records whose time is not known yet (a backlog not read)
    newest_all: dt.datetime | None = None
    last_record = 0.0
    quiet = True
    for family, count in (input_partitions or {}).items():
        if any(f"{family}:{q}" not in progress for q in range(count)):
            waiting.add(family)
            quiet = False
    for tp, p in progress.items():
        family = family_of(tp)
        if family not in busy:
            continue
        newest = _parse(p.newest)
        last_record = max(last_record, p.last_record)
        if not p.at_end:
            quiet = False
        if newest is None:
            if not p.at_end:
                waiting.add(family)
            continue
        seen.add(family)
        newest_all = newest if newest_all is None or newest > newest_all else newest_all
        if not p.at_end or wall - p.last_record < idle_s:
            busy[family].append(newest)
    quiet = quiet and wall - last_record >= idle_s and newest_all is not None
    if quiet and _ledger_done(progress, confirmed):
        return {**dict.fromkeys((*INPUT_FAMILIES, LEDGER), newest_all), "clock": newest_all}  # type: ignore[dict-item]
    everyone = [t for ts in busy.values() for t in ts]
    clock = min(everyone) if everyone else (newest_all or NEVER)
    marks: dict[str, dt.datetime] = dict.fromkeys(INPUT_FAMILIES, NEVER)
    # Only while every input partition streams does the lateness bound say anything: a partition that
    # went quiet (or never brought anything) may be a source that has finished — or one whose whole
    # extraction is still to come, arbitrarily far behind in event time (upstream systems deliver
    # separately, in any order). Then nothing is decided until the whole input is quiet.
    streaming = not waiting and all(busy[f] for f in INPUT_FAMILIES) and \
        sum(len(ts) for ts in busy.values()) == sum(1 for tp in progress if family_of(tp) in busy)
    if streaming:
        for f in INPUT_FAMILIES:
            marks[f] = min(busy[f]) - late[f]
    marks[LEDGER] = _ledger_mark(progress, confirmed, marks, late)
    marks["clock"] = clock
    return marks


def _ledger_confirmed(progress: Mapping[str, PartitionProgress], ledger: Mapping[str, Mapping[str, LedgerPosition]],
                      ledger_partitions: int) -> dict[str, LedgerPosition | None]:
    """Per ledger input partition, what every ledger-topic partition's marker confirms (the least of
    them: a marker on partition q vouches only for the postings on q); None: not on every partition yet."""
    out: dict[str, LedgerPosition | None] = {}
    if ledger_partitions == 0:  # no ledger in this setup (tests of the rules alone): nothing to wait for
        return out
    for tp in progress:
        if family_of(tp) not in LEDGER_INPUT:
            continue
        copies = [ledger.get(str(q), {}).get(tp) for q in range(ledger_partitions)]
        if any(c is None for c in copies):
            out[tp] = None
        else:
            out[tp] = min(copies, key=lambda c: c.position)  # type: ignore[union-attr]
    return out


def _ledger_done(progress: Mapping[str, PartitionProgress], confirmed: Mapping[str, LedgerPosition | None]) -> bool:
    for tp, c in confirmed.items():
        p = progress[tp]
        if p.newest is None:
            continue  # nothing routed from it: nothing to confirm
        if c is None or c.position < p.position:
            return False
    return True


def _ledger_mark(progress: Mapping[str, PartitionProgress], confirmed: Mapping[str, LedgerPosition | None],
                 marks: Mapping[str, dt.datetime], late: Mapping[str, dt.timedelta]) -> dt.datetime:
    mark = min(marks[f] for f in LEDGER_INPUT)
    for tp, c in confirmed.items():
        p = progress[tp]
        if p.newest is None:
            continue
        if c is None:
            return NEVER
        if c.position < p.position:
            held = _parse(c.newest)
            if held is None:
                return NEVER
            mark = min(mark, held - late[family_of(tp)])
    return mark
