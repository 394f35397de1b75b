"""An in-memory run of both engine stages over a list of events (no broker, no faust):
the same `route` and `Engine.process` the worker calls, with a dict for the state table."""

from __future__ import annotations

from collections import defaultdict

from contracts import parse_event
from contracts.envelope import Envelope
from services.alerts.clock import ClockMode, Progress
from services.alerts.config import RuleConfigs
from services.alerts.engine import Engine
from services.alerts.lifecycle import Transition
from services.alerts.routing import partitions_of, route, watermark_of

PII_KEY = b"embedded-demo-key-not-for-production"


class Harness:
    def __init__(self, partitions: int = 6, mode: ClockMode = ClockMode.event, configs: RuleConfigs | None = None,
                 wall: float = 0.0) -> None:
        self.partitions = partitions
        self.configs = configs or RuleConfigs()
        self.engine = Engine(self.configs, mode, partitions, reference_partitions=1)
        self.store: dict = {}
        self.progress = Progress()
        self.transitions: list[Transition] = []
        self.refusals: list[dict] = []
        self.wall = wall
        self.routed = 0.0

    def cfg(self, rule, year):
        c = self.configs.get(rule, year)
        return c if c.enabled else None

    def feed(self, events, batch: int = 500) -> None:
        chunk: list[Envelope] = []
        for raw in events:
            chunk.append(raw if isinstance(raw, Envelope) else parse_event(raw, pii_key=PII_KEY))
            if len(chunk) >= batch:
                self._batch(chunk)
                chunk = []
        if chunk:
            self._batch(chunk)

    def _batch(self, events: list[Envelope]) -> None:
        self.routed += 1.0
        per: dict[int, list[dict]] = defaultdict(list)
        for e in events:
            mark = watermark_of(e)
            if mark:
                self.progress.observe(*mark)
            for fact in route(e, self.cfg):
                fact["ro"] = self.routed
                for p in partitions_of(fact["k"], self.partitions):
                    per[p].append(fact)
        marks = self.progress.drain()
        self.deliver({p: {"facts": per.get(p, []), "marks": marks, "ref": {"0": self.routed}, "wall": self.wall}
                      for p in range(self.partitions)})

    def deliver(self, messages: dict[int, dict]) -> None:
        pending = [(p, m) for p, m in messages.items()]
        while pending:
            p, message = pending.pop(0)
            out = self.engine.process(p, self.store, message)
            assert out.errors == 0, "engine errors (see log)"
            self.store.update(out.dirty)
            self.transitions.extend(out.transitions)
            self.refusals.extend(out.refusals)
            for q, facts in out.forwards.items():
                pending.append((q, {"facts": facts}))

    def flush(self) -> None:
        """The end of the input: every stream catches up with the furthest (see `clock.flush_marks`)."""
        self.deliver({p: {"facts": [], "flush": self.progress.furthest() or True, "wall": self.wall,
                          "ref": {"0": self.routed}} for p in range(self.partitions)})

    def tick(self, wall: float | None = None) -> None:
        if wall is not None:
            self.wall = wall
        self.deliver({p: {"facts": [], "tick": True, "wall": self.wall, "ref": {"0": self.routed}}
                      for p in range(self.partitions)})

    def alerts(self) -> dict[str, list[Transition]]:
        by: dict[str, list[Transition]] = defaultdict(list)
        for t in self.transitions:
            by[t.alert_id].append(t)
        return by


def with_ledger(events: list[dict], db_path: str, batch: int = 500, skew: bool = False) -> list[Envelope]:
    """The input events interleaved with the ledger's derived stream, as the real ledger (its
    recorder, on SQLite) produces it batch by batch — the alerts' view of a live run. `skew`:
    the ledger reads each batch's payments before its indicator events (two topics, no order
    between them), as it may when the events arrive through ingest."""
    from services.ledger import offline

    def payments_first(chunk: list[Envelope]) -> list[Envelope]:
        return sorted(chunk, key=lambda e: not e.type.startswith("payment."))

    parsed = [parse_event(e, pii_key=PII_KEY) for e in events]
    return offline.interleaved(offline.project(f"sqlite+aiosqlite:///{db_path}", parsed, batch=batch,
                                               topic="ledger-topic", reorder=payments_first if skew else None))
