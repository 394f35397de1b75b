"""A routing round: the records the router read → one `Work` message per work partition, with how far
every input partition has been read. Pure (no I/O), so the router process and the tests' harness
build rounds the same way.

The router reads the input topics (reference, indicator, payment, performance), the ledger's derived
stream and the dispositions; `Rounds.add` turns each record into facts (`ingress.facts_of`) and notes
the partition's progress (the newest event time routed from it); `Rounds.ledger_marker` takes the
ledger's `ledger.progress` markers; `Rounds.messages` hands out what a round produced."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field

from contracts.envelope import EVENT_TYPES, Envelope
from contracts.ledger import LedgerProgress
from services.alerts import facts as f
from services.alerts import ingress
from services.alerts.clock import event_key
from services.alerts.engine import partitions_of
from services.alerts.rules.registry import Rules
from services.alerts.watermarks import INPUT_FAMILIES, LedgerPosition, PartitionProgress

log = logging.getLogger(__name__)


@dataclass
class _Partition:
    position: int = 0
    newest: str | None = None
    newest_key: str = ""
    at_end: bool = False
    last_record: float = 0.0


@dataclass
class Refused:
    """A record the router could not route, for the dead-letter topic."""

    topic: str
    partition: int
    offset: int
    reason: str


@dataclass
class Rounds:
    rules: Rules
    partitions: int
    family_of_topic: dict[str, str]  # input topic name → family (reference, indicator, payment, performance)
    progress: dict[str, _Partition] = field(default_factory=dict)  # "<family>:<partition>" → progress
    ledger: dict[str, dict[str, LedgerPosition]] = field(default_factory=dict)  # markers seen this round
    per: dict[int, list[f.Fact]] = field(default_factory=lambda: defaultdict(list))
    refused: list[Refused] = field(default_factory=list)
    events: int = 0

    def know(self, topic: str, partition: int) -> None:
        """An input partition the router holds (it counts for the watermarks even before it brings anything)."""
        family = self.family_of_topic.get(topic)
        if family is not None:
            self.progress.setdefault(f"{family}:{partition}", _Partition())

    def add(self, topic: str, partition: int, offset: int, event: Envelope, wall: float) -> None:
        """Route one record's event."""
        family = self.family_of_topic.get(topic)
        if isinstance(event.data, LedgerProgress):
            self.ledger_marker(event.data)
            return
        try:
            facts = ingress.facts_of(event, self.rules)
        except Exception as exc:
            log.exception("routing %s %s failed", event.type, event.id, extra={"event_id": event.id})
            self.rules.found.clear()
            self.refused.append(Refused(topic, partition, offset, f"rules failed on {event.type}: "
                                                                  f"{type(exc).__name__}: {exc}"[:500]))
            facts = []
        source = (f"{topic}:{partition}", offset)
        for fact in facts:
            fact.src = source
            for p in partitions_of(fact.key, self.partitions):
                self.per[p].append(fact)
        self.events += 1
        if family is not None:
            self.seen(f"{family}:{partition}", offset, event.time.isoformat(), wall)

    def seen(self, tp: str, offset: int, time_iso: str, wall: float) -> None:
        state = self.progress.setdefault(tp, _Partition())
        state.position = max(state.position, offset + 1)
        state.last_record = wall
        state.at_end = False
        k = event_key(time_iso)
        if k > state.newest_key:
            state.newest, state.newest_key = time_iso, k

    def caught_up(self, tp: str, at_end: bool) -> None:
        state = self.progress.setdefault(tp, _Partition())
        state.at_end = at_end

    def ledger_marker(self, marker: LedgerProgress) -> None:
        """A `ledger.progress` marker read on ledger partition `marker.partition`."""
        positions = {}
        for tp, pos in marker.positions.items():
            topic, _, partition = tp.rpartition(":")
            family = self.family_of_topic.get(topic, topic)
            newest = marker.newest.get(tp) if marker.newest else None
            positions[f"{family}:{partition}"] = LedgerPosition(pos, newest.isoformat() if newest else None)
        mine = self.ledger.setdefault(str(marker.partition), {})
        for tp, lp in positions.items():
            if tp not in mine or lp.position > mine[tp].position:
                mine[tp] = lp

    def report(self, wall: float) -> dict[str, PartitionProgress]:
        return {tp: PartitionProgress(s.position, s.newest, s.at_end, s.last_record, wall)
                for tp, s in self.progress.items()}

    def messages(self, wall: float, cfg: dict[str, int] | None = None, *, tick: bool = False) -> dict[int, f.Work]:
        """The round's message for every work partition (each carries the progress report), and a fresh round."""
        report = self.report(wall)
        ledger, self.ledger = self.ledger, {}
        out = {p: f.Work(facts=self.per.get(p, []), progress=report, ledger=ledger,  # type: ignore[arg-type]
                          wall=wall, cfg=cfg, tick=tick)
               for p in range(self.partitions)}
        self.per = defaultdict(list)
        return out


def input_families(prefix_topic: dict[str, str]) -> dict[str, str]:
    """Topic name → family for the input families (what the watermarks are made of)."""
    return {topic: family for topic, family in prefix_topic.items() if family in INPUT_FAMILIES}


__all__ = ["EVENT_TYPES", "Refused", "Rounds", "input_families"]
