"""An in-memory run of both engine stages over a list of events (no broker, no faust): the same
`Rounds` and `Engine.process` the worker uses, with a dict for the state and simulated input
partitions (an event goes to the partition its fiscal unit hashes to, as the producer sends it).

With `ledger=True` the events also go through the real ledger (its recorder on SQLite) batch by
batch, its derived stream and its `ledger.progress` markers follow each batch — the alerts' view of
a live run."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

from aiokafka.partitioner import murmur2

from contracts import parse_event
from contracts.envelope import EVENT_TYPES, Envelope
from contracts.ledger import LedgerProgress
from contracts.topics import TOPICS, Family
from services.alerts.config import RuleConfigs
from services.alerts.engine import Engine
from services.alerts.facts import Work
from services.alerts.lifecycle import Transition
from services.alerts.rounds import Rounds
from services.alerts.rules.registry import Rules

PII_KEY = b"embedded-demo-key-not-for-production"
INPUT = ("reference", "indicator", "payment", "performance")


def partition_for(event: Envelope) -> tuple[str, int]:
    family = EVENT_TYPES[event.type][1]
    count = TOPICS[family].partitions
    return family.value, (murmur2(event.key) & 0x7FFFFFFF) % count


class Harness:
    def __init__(self, partitions: int = 2, *, event_time: bool = True, configs: RuleConfigs | None = None,
                 wall: float = 1_700_000_000.0, lateness_days: float = 1.0, ledger_db: str | None = None,
                 idle_s: float = 10.0) -> None:
        self.partitions = partitions
        self.configs = configs or RuleConfigs()
        self.ledger_db = ledger_db
        lateness = {f: dt.timedelta(days=lateness_days) for f in INPUT}
        self.engine = Engine(self.configs, partitions, event_time=event_time, lateness=lateness, idle_s=idle_s,
                             ledger_partitions=1 if ledger_db else 0,
                             input_partitions={f: TOPICS[Family(f)].partitions for f in INPUT})
        self.rounds = Rounds(Rules(self.configs), partitions, {f: f for f in INPUT})
        for family in INPUT:  # every input partition exists from the start, as on the broker
            for q in range(TOPICS[Family(family)].partitions):
                self.rounds.know(family, q)
        self.store: dict = {}
        self.transitions: list[Transition] = []
        self.refusals: list[dict] = []
        self.dead: list = []
        self.wall = wall
        self.idle_s = idle_s
        self.offsets: dict[tuple[str, int], int] = defaultdict(int)
        self.ledger_offsets: dict[str, int] = {}
        self.work_offsets: dict[int, int] = defaultdict(int)
        self._ledger_engine = None

    def cfg(self, rule: str, year: int | None):
        c = self.configs.get(rule, year)
        return c if c.enabled else None

    def feed(self, events: Iterable[dict | Envelope], batch: int = 500) -> None:
        """Publish `events` and route them in rounds of `batch`. A partition counts as read to its end
        once this feed has nothing more for it (a truthful signal: once idle for `idle_s` rounds of the harness
        it then stops holding its family's watermark back, as a real quiet partition does)."""
        parsed = [raw if isinstance(raw, Envelope) else parse_event(raw, pii_key=PII_KEY) for raw in events]
        remaining: dict[str, int] = defaultdict(int)
        for e in parsed:
            topic, q = partition_for(e)
            remaining[f"{topic}:{q}"] += 1
        for i in range(0, len(parsed), batch):
            self._batch(parsed[i:i + batch], remaining)

    def _batch(self, events: list[Envelope], remaining: dict[str, int] | None = None) -> None:
        self.wall += 1.0
        for e in events:
            topic, q = partition_for(e)
            offset = self.offsets[(topic, q)]
            self.offsets[(topic, q)] += 1
            self.rounds.add(topic, q, offset, e, self.wall)
            if remaining is not None:
                remaining[f"{topic}:{q}"] -= 1
        for tp in self.rounds.progress:
            self.rounds.caught_up(tp, remaining is None or remaining.get(tp, 0) == 0)
        if self.ledger_db:
            self._ledger(events)
        self.deliver(self.rounds.messages(self.wall))

    def _ledger(self, events: list[Envelope]) -> None:
        """The ledger books the batch; its derived stream and a marker follow (one ledger partition)."""
        import asyncio

        from services.ledger.recorder import Recorder
        from services.runtime.db import make_engine, migrate

        if self._ledger_engine is None:
            migrate(f"sqlite+aiosqlite:///{self.ledger_db}", "ledger")

        async def apply() -> list[Envelope]:
            engine = make_engine(f"sqlite+aiosqlite:///{self.ledger_db}")
            try:
                async with engine.begin() as conn:
                    out = await Recorder("ledger", write_outbox=False).apply(conn, events)
            finally:
                await engine.dispose()
            return [parse_event(o.value) for o in out]

        self._ledger_engine = True
        for derived in asyncio.run(apply()):
            offset = self.ledger_offsets.get("ledger", 0)
            self.ledger_offsets["ledger"] = offset + 1
            self.rounds.add("ledger", 0, offset, derived, self.wall)
        positions, newest = {}, {}
        for (topic, q), next_offset in self.offsets.items():
            if topic in ("reference", "indicator", "payment"):
                positions[f"{topic}:{q}"] = next_offset
                seen = self.rounds.progress.get(f"{topic}:{q}")
                if seen is not None and seen.newest:
                    newest[f"{topic}:{q}"] = dt.datetime.fromisoformat(seen.newest)
        self.rounds.ledger_marker(LedgerProgress(positions=positions, newest=newest, partition=0))

    def deliver(self, messages: dict) -> None:
        """Through the engine as the worker does: each message at the next offset of its work partition,
        forwards to other partitions stamped with the message they came from."""
        pending = list(messages.items())
        while pending:
            p, message = pending.pop(0)
            offset = self.work_offsets[p]
            self.work_offsets[p] += 1
            out = self.engine.process(p, self.store, message, offset)
            assert not out.dead, f"engine dead letters: {[d.reason for d in out.dead]}"
            self.store.update(out.dirty)
            self.transitions.extend(out.transitions)
            self.refusals.extend(out.refusals)
            for q, facts in out.forwards.items():
                pending.append((q, Work(facts=facts, origin=out.origin, wall=self.wall)))

    def flush(self) -> None:
        """The end of the input: every partition read to its end and quiet for `idle_s`."""
        for tp in self.rounds.progress:
            self.rounds.caught_up(tp, True)
        self.wall += self.idle_s + 1
        self.deliver(self.rounds.messages(self.wall, tick=True))

    def tick(self, wall: float | None = None) -> None:
        if wall is not None:
            self.wall = wall
        self.deliver(self.rounds.messages(self.wall, tick=True))

    def raised(self, rule: str | None = None) -> list[Transition]:
        return [t for t in self.transitions if t.kind.value == "raised" and (rule is None or t.rule_id == rule)]

    def alerts(self) -> dict[str, list[Transition]]:
        by: dict[str, list[Transition]] = defaultdict(list)
        for t in self.transitions:
            by[t.alert_id].append(t)
        return by


def demo_run(events: list[dict], *, db_path: str | None = None, batch: int = 500, **kw) -> Harness:
    """A whole demo through the harness (with the ledger when `db_path`), then the end of the input."""
    h = Harness(ledger_db=db_path, **kw)
    h.feed(events, batch=batch)
    h.flush()
    return h


def with_ledger(events: list[dict], db_path: str, topic_of, *, batch: int = 500,
                ledger_partitions: int | None = None) -> list[tuple[Envelope, int | None]]:
    """The input events interleaved with the real ledger's derived stream and its markers
    (`services.ledger.offline.published`), as the broker holds them after a live run."""
    from services.ledger import offline

    parsed = [parse_event(e, pii_key=PII_KEY) for e in events]
    return offline.published(f"sqlite+aiosqlite:///{db_path}", parsed, topic_of, batch=batch,
                             ledger_partitions=ledger_partitions)


def engine(*batches: list[dict], configs: RuleConfigs | None = None) -> Harness:
    """Each batch fed, then the end of the input (every source complete up to its newest event)."""
    h = Harness(configs=configs)
    for events in batches:
        h.feed(events)
        h.flush()
    return h


def arriving(*batches: list[dict]) -> Harness:
    """Each batch one routing round, in this order, and only then the end of the input."""
    h = Harness()
    for events in batches:
        h.feed(events)
    h.flush()
    return h


def story(h: Harness, rule: str) -> list[tuple[str, str, str]]:
    """(transition kind, level, day) of every transition of `rule`."""
    return [(t.kind.value, t.level, t.at[:10]) for t in h.transitions if t.rule_id == rule]


def raised(h: Harness, rule: str) -> list:
    """The `raised` transitions of `rule`."""
    return [t for t in h.transitions if t.rule_id == rule and t.kind.value == "raised"]
