"""Stage 2 of the rule engine: one work message (the facts of a routing round for one partition)
→ the partition's entities → the rules → findings → the alert life cycle. No I/O: the worker
reads the state, calls `Engine.process`, publishes the output and writes the state (`worker.py`).

    facts (facts.py) ──▶ entity of the fact's key (entities/*.py: one handler per fact kind)
                              │ Rules.run(rule, …)          (rules/registry.py: gating)
                              ▼
                         findings ──▶ the alert's partition ──▶ lifecycle.on_finding ──▶ transitions

Time: each message says how far the router has read every input partition; the partition's
clock (`G<p>:clock`) folds that into a watermark per source family (watermarks.py). When a
watermark moves, the entities that wait for it act: deadlines, checkpoints, parked checks. Who
waits for what (`DueIndex`) is derived from the entities and kept in memory only: it is rebuilt
from the state when a worker takes a partition (`Engine.rebuild`), not written on every message.

Per-partition keys of the state:
    G<p>:clock   input progress, ledger markers, the watermarks they give
    G<p>:funds   the fund catalogue (broadcast)        G<p>:routes  group routes (broadcast)
    G<p>:ind:<id> fund, year and region of an indicator (broadcast)
    G<p>:track   what the state already holds (tracking, for an exactly-once effect)
    G<p>:out     the partition's last output (written by the worker, sent again after a crash)
and the entities (`P:…`, `A:…`, `E:…`, `J:…`, `T:…`, `I:…`, `F:…`) and alerts (`L:…`) that hash
to the partition, with the side keys an entity keeps beside it (`Q:I:<id>:<day>`: an indicator's
postings waiting for the ledger's watermark, one key per day, so that an indicator that waits long
is not decoded and written whole on every message). A key set to None is deleted (a tombstone on
the state topic)."""

from __future__ import annotations

import datetime as dt
import heapq
import logging
import zlib
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from contracts.control import DispositionAction
from services.alerts import facts as f
from services.alerts import watermarks
from services.alerts.clock import NEVER, Now, key
from services.alerts.config import RuleConfigs
from services.alerts.entities import ENTITIES
from services.alerts.entities.base import Ctx, Entity
from services.alerts.lifecycle import (
    AlertState,
    Decision,
    Disposition,
    Settings,
    Transition,
    on_disposition,
    on_finding,
)
from services.alerts.model import Fund, Posting
from services.alerts.rules.registry import Rules

log = logging.getLogger(__name__)
TREASURY = "treasury"  # 国库组 owns whatever no group was assigned


class Route(msgspec.Struct, frozen=True, array_like=True):
    scope: str
    fund: str | None
    group: str
    seq: int


class PartitionClock(msgspec.Struct):
    progress: dict[str, watermarks.PartitionProgress] = msgspec.field(default_factory=dict)
    ledger: dict[str, dict[str, watermarks.LedgerPosition]] = msgspec.field(default_factory=dict)
    marks: dict[str, str] = msgspec.field(default_factory=dict)  # family → comparable moment (clock.key)

    def copy(self) -> PartitionClock:
        return PartitionClock(dict(self.progress), {q: dict(v) for q, v in self.ledger.items()}, dict(self.marks))


class Tracking(msgspec.Struct):
    """What the partition's state already holds: the last work offset applied, per source
    partition the last routed record, per partition the last message whose forwards arrived."""

    work: int = -1
    sources: dict[str, int] = msgspec.field(default_factory=dict)
    forwards: dict[str, int] = msgspec.field(default_factory=dict)


def partition_of(entity_key: str, partitions: int) -> int:
    return zlib.crc32(entity_key.encode()) % partitions


def partitions_of(entity_key: str, partitions: int) -> range | tuple[int]:
    """The work partitions a fact goes to: every one for a broadcast (reference data each partition
    keeps a copy of), else the one its key hashes to."""
    return range(partitions) if entity_key == f.BROADCAST else (partition_of(entity_key, partitions),)


def responsible_group(region: str, fund_code: str | None, routes: list[Route]) -> str:
    """Seed 000 art. 19 (谁主管、谁负责): the `group.assigned` route with the longest region prefix
    containing the region and covering the fund (fund-specific before every-fund, later wins)."""
    matching = [r for r in routes if region.startswith(r.scope) and (r.fund is None or r.fund == fund_code)]
    if not matching:
        return TREASURY
    return max(matching, key=lambda r: (len(r.scope), r.fund is not None, r.seq)).group


# ------------------------------------------------------------------ the state's wire form

_CODEC = msgspec.msgpack.Encoder()
_G_TYPES: dict[str, Any] = {"clock": PartitionClock, "funds": dict[str, Fund], "routes": list[Route], "track": Tracking,
                            "ind": f.IndicatorKnown, "out": list[tuple[str, str | None, bytes, int | None]]}
_DECODERS: dict[Any, msgspec.msgpack.Decoder] = {}


def _decoder(kind: Any) -> msgspec.msgpack.Decoder:
    found = _DECODERS.get(kind)
    if found is None:
        found = _DECODERS[kind] = msgspec.msgpack.Decoder(kind)
    return found


def state_type(state_key: str) -> Any:
    """The type of the value a state key holds."""
    if state_key.startswith("G"):
        name = state_key.split(":", 2)[1]
        return _G_TYPES[name]
    if state_key.startswith("L:"):
        return AlertState
    if state_key.startswith("Q:"):
        return list[Posting]
    return ENTITIES[state_key[0]]


def encode_state(value: Any) -> bytes:
    return _CODEC.encode(value)


def decode_state(state_key: str, raw: bytes) -> Any:
    return _decoder(state_type(state_key)).decode(raw)


# ------------------------------------------------------------------ who waits for what


class DueIndex:
    """The entities of one partition that wait for a watermark: per family a heap of (moment, entity),
    stale entries dropped when they come up (an entity's current wakeups are in `wakes`)."""

    def __init__(self) -> None:
        self.wakes: dict[str, tuple[tuple[str, str], ...]] = {}
        self.heaps: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self.pushed = 0

    def set(self, entity_key: str, wakes: tuple[tuple[str, str], ...]) -> None:
        if self.wakes.get(entity_key) == wakes:
            return
        if wakes:
            self.wakes[entity_key] = wakes
            for family, moment in wakes:
                heapq.heappush(self.heaps[family], (moment, entity_key))
            self.pushed += len(wakes)
            if self.pushed > 4 * len(self.wakes) + 1024:
                self._compact()
        else:
            self.wakes.pop(entity_key, None)

    def due(self, now: Now) -> list[str]:
        """The entities one of whose wakeups the watermarks have reached (taken out: set them again)."""
        out: dict[str, None] = {}
        for family, heap in self.heaps.items():
            mark = now.marks.get(family, NEVER)
            while heap and heap[0][0] <= mark:
                moment, entity_key = heapq.heappop(heap)
                if (family, moment) in self.wakes.get(entity_key, ()):
                    out[entity_key] = None
        for entity_key in out:
            self.wakes.pop(entity_key, None)
        return list(out)

    def _compact(self) -> None:
        heaps: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for entity_key, wakes in self.wakes.items():
            for family, moment in wakes:
                heaps[family].append((moment, entity_key))
        for heap in heaps.values():
            heapq.heapify(heap)
        self.heaps, self.pushed = heaps, sum(len(w) for w in self.wakes.values())


# ------------------------------------------------------------------ one message


@dataclass
class DeadLetter:
    fact: f.Fact | None
    reason: str


@dataclass
class Output:
    transitions: list[Transition] = field(default_factory=list)
    refusals: list[dict] = field(default_factory=list)
    forwards: dict[int, list[f.Fact]] = field(default_factory=dict)
    dirty: dict[str, Any] = field(default_factory=dict)
    dead: list[DeadLetter] = field(default_factory=list)
    origin: tuple[int, int] | None = None  # (partition, work offset) of the message: stamped on its forwards
    redelivered: int = 0  # facts (or a whole message: 1) already in the state, skipped


class View:
    """Reads through to the state, remembers what was written. The worker keeps entity and alert
    values as their encoded bytes (what the state topic holds: bytes are no work for the cycle
    collector, a heap of objects is); such a value is decoded once per message, on first read."""

    def __init__(self, store: Mapping[str, Any], out: Output) -> None:
        self.store, self.out = store, out
        self.read: dict[str, Any] = {}

    def get(self, state_key: str) -> Any:
        if state_key in self.out.dirty:
            return self.out.dirty[state_key]
        if state_key in self.read:
            return self.read[state_key]
        value = self.store.get(state_key)
        if isinstance(value, bytes):
            value = decode_state(state_key, value)
        self.read[state_key] = value
        return value

    def put(self, state_key: str, value: Any) -> None:
        self.out.dirty[state_key] = value


class Engine:
    def __init__(self, configs: RuleConfigs, partitions: int, *, event_time: bool = True,
                 lateness: Mapping[str, dt.timedelta] | None = None, idle_s: float = 5.0,
                 ledger_partitions: int = 6, input_partitions: Mapping[str, int] | None = None) -> None:
        self.configs = configs
        self.partitions = partitions
        self.event_time = event_time
        self.lateness = dict(lateness or {})
        self.idle_s = idle_s
        self.ledger_partitions = ledger_partitions
        self.input_partitions = dict(input_partitions or {})
        self._groups: dict[str, tuple[tuple[int, int], dict[tuple[str, str | None], str]]] = {}
        self.index: dict[str, DueIndex] = defaultdict(DueIndex)  # per partition prefix (G<p>:)

    def rebuild(self, p: int, store: Mapping[str, Any], keys: Iterable[str]) -> int:
        """The due index of partition `p` from its entities (a worker took the partition); returns its size."""
        index = self.index[f"G{p}:"] = DueIndex()
        for entity_key in keys:
            if entity_key[0] in ENTITIES:
                value = store.get(entity_key)
                state = decode_state(entity_key, value) if isinstance(value, bytes) else value
                if state is not None:
                    index.set(entity_key, tuple(sorted(set(state.wakeups()))))
        return len(index.wakes)

    def process(self, p: int, store: Mapping[str, Any], work: f.Work, offset: int | None = None) -> Output:
        """Apply one work-topic message (at `offset` of partition `p`, when it came from there)."""
        out = Output(origin=None if offset is None else (p, offset))
        view = View(store, out)
        g = f"G{p}:"
        facts = self._unseen(g, view, work, offset, out)
        if facts is None:
            return out
        before: PartitionClock | None = view.get(g + "clock")
        funds: dict[str, Fund] = view.get(g + "funds") or {}
        rules = Rules(self.configs)
        # the facts are judged by the time as it stood before this message: its progress report says how far
        # the input is read *with* these facts, so it moves the clock only once they are in the state
        ctx = Ctx(rules, funds, lambda indicator_id: view.get(f"{g}ind:{indicator_id}"),
                  Now(before.marks if before is not None else {}), state=view)
        queue: deque[f.Fact] = deque(facts)

        def drain() -> None:
            for finding in rules.found:
                self._route(f.FindingRaised(key=f"L:{finding.alert_id}", finding=finding), p, queue, out)
            for derived in ctx.derived:
                self._route(derived, p, queue, out)
            rules.found.clear()
            ctx.derived.clear()

        def run() -> None:
            while queue:
                fact = queue.popleft()
                try:
                    if fact.key == f.BROADCAST:
                        self._broadcast(g, view, fact, funds)
                    elif fact.key.startswith("L:"):
                        self._alert(g, view, fact, out)
                    else:
                        self._entity(g, view, fact, ctx)
                        drain()
                except Exception as exc:
                    log.exception("fact %s (%s) failed", fact.key, type(fact).__name__)
                    out.dead.append(DeadLetter(fact, f"{type(exc).__name__}: {exc}"[:500]))
                    rules.found.clear()
                    ctx.derived.clear()

        run()
        ctx.now, moved = self._clock(g, view, work)
        if moved or work.tick:
            self._wake(g, view, ctx, out)
            drain()
            run()
        return out

    # ------------------------------------------------------------------ tracking

    @staticmethod
    def _unseen(g: str, view: View, work: f.Work, offset: int | None, out: Output) -> Sequence[f.Fact] | None:
        """The facts of `work` the state does not hold yet; None: the whole message is in it.

        Everything upstream is at-least-once, and an entity must not take a fact twice. Three kinds
        of repeat: the agent's own redelivery (a message at or below the last applied work offset is
        skipped whole: its output went out with its state, and is sent again from the outbox); the
        router's (every fact names its source record; a record at or below the last one applied from
        that source partition is dropped); a forward sent again (its origin at or below the last seen).
        Progress reports are idempotent merges and pass through."""
        facts = work.facts
        origin = work.origin
        if offset is None and origin is None and not any(x.src for x in facts):
            return facts  # offline (tests, the harness): nothing to track
        if not facts and origin is None:
            return facts  # a timer tick or a bare progress report: applying it again changes nothing
        before: Tracking = view.get(g + "track") or Tracking()
        if offset is not None and offset <= before.work:
            out.redelivered = 1
            return None
        track = Tracking(before.work if offset is None else offset, before.sources, before.forwards)
        if origin is not None:
            q, at = str(origin[0]), int(origin[1])
            if at <= before.forwards.get(q, -1):
                out.redelivered += len(facts)
                facts = []
            else:
                track.forwards = {**before.forwards, q: at}
        else:
            seen, latest, kept = before.sources, dict(before.sources), []
            for fact in facts:
                if fact.src is not None:
                    tp, at = fact.src
                    if at <= seen.get(tp, -1):
                        out.redelivered += 1
                        continue
                    if at > latest.get(tp, -1):
                        latest[tp] = at
                kept.append(fact)
            facts, track.sources = kept, latest
        if track != before:
            view.put(g + "track", track)
        return facts

    # ------------------------------------------------------------------ time

    def _clock(self, g: str, view: View, work: f.Work) -> tuple[Now, bool]:
        old: PartitionClock | None = view.get(g + "clock")
        clock = old.copy() if old is not None else PartitionClock()
        changed = watermarks.merge_progress(clock.progress, work.progress)
        changed = watermarks.merge_ledger(clock.ledger, work.ledger) or changed
        moved = False
        if changed or work.tick or work.progress:
            marks = watermarks.compute(clock.progress, clock.ledger, wall=work.wall, event_time=self.event_time,
                                       lateness=self.lateness, idle_s=self.idle_s,
                                       ledger_partitions=self.ledger_partitions,
                                       input_partitions=self.input_partitions)
            for family, moment in marks.items():
                k = key(moment)
                if k != NEVER and k > clock.marks.get(family, NEVER):  # a watermark never goes back
                    clock.marks[family] = k
                    moved = True
        if changed or moved:
            view.put(g + "clock", clock)
        return Now(clock.marks), moved

    def _wake(self, g: str, view: View, ctx: Ctx, out: Output) -> None:
        for entity_key in self.index[g].due(ctx.now):
            state = view.get(entity_key)
            if state is None:
                continue
            try:
                if state.on_time(entity_key, ctx):
                    view.put(entity_key, state)
            except Exception as exc:
                log.exception("clock on %s failed", entity_key)
                out.dead.append(DeadLetter(None, f"{entity_key}: {type(exc).__name__}: {exc}"[:500]))
            self._index(g, view, entity_key, state)

    # ------------------------------------------------------------------ pieces

    def _route(self, fact: f.Fact, p: int, queue: deque[f.Fact], out: Output) -> None:
        q = partition_of(fact.key, self.partitions)
        if q == p:
            queue.append(fact)
        else:
            out.forwards.setdefault(q, []).append(fact)

    def _broadcast(self, g: str, view: View, fact: f.Fact, funds: dict[str, Fund]) -> None:
        if isinstance(fact, f.FundCatalogued):
            current = view.get(g + "funds") or {}
            if current.get(fact.fund.code) != fact.fund:
                current = {**current, fact.fund.code: fact.fund}
                view.put(g + "funds", current)
                funds[fact.fund.code] = fact.fund
        elif isinstance(fact, f.GroupRouted):
            routes = [r for r in view.get(g + "routes") or [] if not (r.scope == fact.scope and r.group == fact.group)]
            seq = max((r.seq for r in routes), default=0) + 1
            routes += [Route(fact.scope, fund, fact.group, seq) for fund in (fact.funds or (None,))]
            view.put(g + "routes", routes)
        elif isinstance(fact, f.IndicatorKnown) and view.get(f"{g}ind:{fact.indicator_id}") != fact:
            view.put(f"{g}ind:{fact.indicator_id}", fact)

    def _entity(self, g: str, view: View, fact: f.Fact, ctx: Ctx) -> None:
        cls = ENTITIES.get(fact.key[0])
        if cls is None:
            return
        state: Entity | None = view.get(fact.key)
        if state is None:
            state = cls(ident=fact.key)
        if state.handle(fact.key, fact, ctx):
            view.put(fact.key, state)
            self._index(g, view, fact.key, state)

    def _index(self, g: str, view: View, entity_key: str, state: Entity) -> None:
        self.index[g].set(entity_key, tuple(sorted(set(state.wakeups()))))

    def _alert(self, g: str, view: View, fact: f.Fact, out: Output) -> None:
        alert_key = fact.key
        state: AlertState | None = view.get(alert_key)
        if isinstance(fact, f.FindingRaised):
            finding = fact.finding
            cfg = self.configs.get(finding.rule_id, finding.budget_year, finding.region)
            fund = finding.fund_code
            if fund is None and finding.indicator_id:
                meta = view.get(f"{g}ind:{finding.indicator_id}")
                fund = meta.fund if meta else None
                if fund is not None:
                    finding = msgspec.structs.replace(finding, fund_code=fund)
            group = self._group(g, finding.region, finding.fund_code, view.get(g + "routes") or [])
            decision = on_finding(state, finding, Settings(cfg.level, cfg.escalate_to, cfg.shadow, group))
        elif isinstance(fact, f.DispositionRequested):
            decision = on_disposition(state, Disposition(
                fact.disposition_id, fact.alert_id, DispositionAction(fact.action), fact.actor, fact.findings, fact.at,
                fact.method, fact.corrective_actions, fact.attachments))
            if decision.refusal:
                out.refusals.append({"disposition_id": fact.disposition_id, "alert_id": fact.alert_id,
                                     "action": fact.action, "actor": fact.actor, "reason": decision.refusal,
                                     "level": state.level if state else None, "at": fact.at,
                                     "region": state.region if state else None})
        else:
            return
        self._apply_decision(alert_key, view, state, decision, out)

    def _group(self, g: str, region: str, fund_code: str | None, routes: list[Route]) -> str:
        """`responsible_group`, remembered per version of the partition's routes (a route is only
        ever added last, with the next sequence number)."""
        version = (len(routes), routes[-1].seq if routes else 0)
        known = self._groups.get(g)
        if known is None or known[0] != version:
            known = self._groups[g] = (version, {})
        found = known[1].get((region, fund_code))
        if found is None:
            found = known[1][(region, fund_code)] = responsible_group(region, fund_code, routes)
        return found

    @staticmethod
    def _apply_decision(alert_key: str, view: View, before: AlertState | None, decision: Decision,
                        out: Output) -> None:
        if decision.state is not None and decision.state != before:
            view.put(alert_key, decision.state)
        out.transitions.extend(decision.transitions)


