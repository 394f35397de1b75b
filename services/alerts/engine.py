"""Stage 2 orchestration: apply one internal message (a batch of facts for one partition) to
that partition's state and say what follows — alert transitions, refused dispositions, facts
for other partitions, and the state keys to write. No I/O: the faust agent reads the table,
calls `Engine.process`, publishes the output and then writes the state (see `app`).

Per-partition keys of the state table:
    G<p>:clock   watermarks per stream, reference progress, wall time
    G<p>:due     entity → (date, stream) pairs it waits for (deadlines, checkpoints)
    G<p>:wait    entity → routing time of its oldest fact waiting for reference data
    G<p>:funds   the fund catalogue (broadcast)        G<p>:routes  group routes (broadcast)
    G<p>:ind:<id> fund, year and region of an indicator (broadcast)
    G<p>:out     the partition's last output (written by the worker, sent again after a crash)
    G<p>:track   what the state already holds (tracking, for an exactly-once effect): the last
                 work-topic offset applied, per source partition the last routed record, per
                 partition the last message whose forwards arrived here
and the entities (`P:…`, `A:…`, `E:…`, `J:…`, `T:…`, `I:…`, `F:…`) and alerts (`L:…`)
that hash to the partition."""

from __future__ import annotations

import datetime as dt
import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from contracts.control import DispositionAction, DispositionFiled
from services.runtime.calendar import local_date
from services.alerts.clock import Clock, ClockMode, flush_marks, merge_marks
from services.alerts.config import RuleConfig, RuleConfigs
from services.alerts.entities import HANDLERS, Ctx, next_checks, on_clock
from services.alerts.findings import Finding
from services.alerts.lifecycle import AlertState, Decision, Disposition, Settings, Transition, on_disposition, on_finding
from services.alerts.model import Fund
from services.alerts.routing import BROADCAST, finding_fact, partition_of

log = logging.getLogger(__name__)
TREASURY = "treasury"  # 国库组 owns whatever no group was assigned


def responsible_group(region: str, fund_code: str | None, routes: list[dict]) -> str:
    """Seed 000 art. 19 (谁主管、谁负责): the `group.assigned` route with the longest region prefix
    containing the region and covering the fund (fund-specific before every-fund, later wins)."""
    matching = [r for r in routes if region.startswith(r["scope"]) and (r["fund"] is None or r["fund"] == fund_code)]
    if not matching:
        return TREASURY
    return max(matching, key=lambda r: (len(r["scope"]), r["fund"] is not None, r["seq"]))["group"]


@dataclass
class Output:
    transitions: list[Transition] = field(default_factory=list)
    refusals: list[dict] = field(default_factory=list)
    forwards: dict[int, list[dict]] = field(default_factory=dict)
    dirty: dict[str, Any] = field(default_factory=dict)
    errors: int = 0
    origin: tuple[int, int] | None = None  # (partition, work offset) of the message: stamped on its forwards
    redelivered: int = 0  # facts (or a whole message: 1) already in the state, skipped


class View:
    """Reads through to the state, remembers what was written. The worker keeps entity and alert
    values as their JSON bytes (`app.Worker.store`: what the state topic holds; bytes are no work
    for the cycle collector, a heap of nested dicts is); such a value is decoded once per message,
    on first read."""

    def __init__(self, store: Mapping[str, Any], out: Output) -> None:
        self.store, self.out = store, out
        self.read: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        if key in self.out.dirty:
            return self.out.dirty[key]
        if key in self.read:
            return self.read[key]
        value = self.store.get(key)
        if isinstance(value, bytes):
            value = orjson.loads(value)
        self.read[key] = value
        return value

    def put(self, key: str, value: Any) -> None:
        self.out.dirty[key] = value


class Engine:
    def __init__(self, configs: RuleConfigs, mode: ClockMode, partitions: int, reference_partitions: int = 6) -> None:
        self.configs = configs
        self.mode = mode
        self.partitions = partitions
        self.reference_partitions = reference_partitions
        self._groups: dict[str, tuple[tuple[int, int], dict[tuple[str, str | None], str]]] = {}

    def cfg(self, rule_id: str, year: int | None) -> RuleConfig | None:
        c = self.configs.get(rule_id, year)
        return c if c.enabled else None

    # ------------------------------------------------------------------ one message

    def process(self, p: int, store: Mapping[str, Any], message: dict, offset: int | None = None) -> Output:
        """Apply one work-topic message (at `offset` of partition `p`, when it came from there)."""
        out = Output(origin=None if offset is None else (p, offset))
        view = View(store, out)
        g = f"G{p}:"
        facts = self._unseen(g, view, message, offset, out)
        if facts is None:
            return out
        clock_state = dict(view.get(g + "clock") or {"marks": {}, "ref": {}, "wall": 0.0})
        moved = merge_marks(clock_state.setdefault("marks", {}), message.get("marks") or {})
        if message.get("flush"):
            moved = flush_marks(clock_state["marks"], message["flush"] if isinstance(message["flush"], str) else None) \
                or moved
        ref = clock_state.setdefault("ref", {})
        for rp, ts in (message.get("ref") or {}).items():
            if ts > ref.get(rp, 0):
                ref[rp] = ts
                moved = True
        wall = max(float(message.get("wall") or 0), float(clock_state.get("wall") or 0))
        if wall != clock_state.get("wall"):
            clock_state["wall"] = wall
            moved = moved or self.mode == ClockMode.wall
        if moved or clock_state != view.get(g + "clock"):
            view.put(g + "clock", clock_state)
        clock = Clock(self.mode, dt.datetime.fromtimestamp(wall, dt.UTC),
                      {k: dt.datetime.fromisoformat(v) for k, v in clock_state["marks"].items()})
        ref_done = min(ref.values()) if len(ref) >= self.reference_partitions else 0.0

        funds_raw = view.get(g + "funds") or {}
        funds = {code: Fund.from_wire(f) for code, f in funds_raw.items()}

        def imeta(indicator_id: str) -> dict | None:
            return view.get(f"{g}ind:{indicator_id}")

        ctx = Ctx(self.cfg, funds, imeta, clock, lambda ro: ro is None or ref_done >= ro)
        queue: deque[dict] = deque(facts)

        def drain_ctx() -> None:
            for f in ctx.findings:
                self._route(finding_fact(f), p, queue, out)
            for d in ctx.derived:
                self._route(d, p, queue, out)
            ctx.findings.clear()
            ctx.derived.clear()

        def run(q: deque[dict]) -> None:
            while q:
                fact = q.popleft()
                try:
                    key = fact["k"]
                    if key == BROADCAST:
                        self._broadcast(g, view, fact, funds)
                    elif key.startswith("L:"):
                        self._alert(g, view, fact, out)
                    else:
                        self._entity(g, view, key, fact, ctx)
                        drain_ctx()
                except Exception:  # noqa: BLE001 - one bad fact must not stall the partition
                    out.errors += 1
                    log.exception("fact %s/%s failed", fact.get("k"), fact.get("f"))
                    ctx.findings.clear()
                    ctx.derived.clear()

        run(queue)
        if moved or message.get("tick"):
            self._clock_driven(g, view, clock, ref_done, ctx)
            drain_ctx()
            run(queue)
        return out

    # ------------------------------------------------------------------ tracking

    @staticmethod
    def _unseen(g: str, view: View, message: dict, offset: int | None, out: Output) -> list[dict] | None:
        """The facts of `message` the state does not hold yet; None: the whole message is in it.

        Everything upstream is at-least-once, and an entity that takes "the latest" (balances,
        a first payment in a window) must not take an old fact twice. Three kinds of repeat:
        - the agent's own redelivery: the state (written after the output) may run ahead of the
          committed work offset after a crash — a message at or below the last applied offset
          is skipped whole (its output went out with its state, and is sent again from the
          state's outbox when a worker takes the partition);
        - the router's: a restarted router routes again what it routed after its last commit —
          every routed fact carries its source record (`s`: topic:partition, offset), and a
          record at or below the last one applied from that source partition is dropped;
        - a forward sent again when its message is processed again: forwards carry their origin
          (`from`: partition, offset), and an origin at or below the last one seen is dropped.
        Clock marks are idempotent merges and pass through."""
        facts = message.get("facts") or []
        origin = message.get("from")
        if offset is None and origin is None and not any("s" in f for f in facts):
            return facts  # offline (tests, the harness): nothing to track
        before = view.get(g + "track") or {"w": -1, "src": {}, "fwd": {}}
        if offset is not None and offset <= before["w"]:
            out.redelivered = 1
            return None
        track = {"w": before["w"] if offset is None else offset, "src": before["src"], "fwd": before["fwd"]}
        if origin is not None:
            q, at = str(origin[0]), int(origin[1])
            if at <= before["fwd"].get(q, -1):
                out.redelivered += len(facts)
                facts = []
            else:
                track["fwd"] = {**before["fwd"], q: at}
        else:
            seen, latest, kept = before["src"], dict(before["src"]), []
            for fact in facts:
                source = fact.pop("s", None)
                if source is not None:
                    tp, at = source
                    if at <= seen.get(tp, -1):
                        out.redelivered += 1
                        continue
                    if at > latest.get(tp, -1):
                        latest[tp] = at
                kept.append(fact)
            facts, track["src"] = kept, latest
        if track != before:
            view.put(g + "track", track)
        return facts

    # ------------------------------------------------------------------ pieces

    def _route(self, fact: dict, p: int, queue: deque[dict], out: Output) -> None:
        q = partition_of(fact["k"], self.partitions)
        if q == p:
            queue.append(fact)
        else:
            out.forwards.setdefault(q, []).append(fact)

    def _broadcast(self, g: str, view: View, fact: dict, funds: dict[str, Fund]) -> None:
        kind = fact["f"]
        if kind == "fund":
            current = dict(view.get(g + "funds") or {})
            if current.get(fact["fund"]["code"]) != fact["fund"]:
                current[fact["fund"]["code"]] = fact["fund"]
                view.put(g + "funds", current)
                funds[fact["fund"]["code"]] = Fund.from_wire(fact["fund"])
        elif kind == "group":
            routes = [r for r in view.get(g + "routes") or [] if not (r["scope"] == fact["scope"]
                                                                       and r["group"] == fact["group"])]
            seq = max((r["seq"] for r in routes), default=0) + 1
            routes += [{"scope": fact["scope"], "fund": f, "group": fact["group"], "seq": seq}
                       for f in (fact["funds"] or [None])]
            view.put(g + "routes", routes)
        elif kind == "imeta":
            value = {"fund": fact["fund"], "year": fact["year"], "region": fact["region"]}
            if view.get(f"{g}ind:{fact['id']}") != value:
                view.put(f"{g}ind:{fact['id']}", value)

    def _entity(self, g: str, view: View, key: str, fact: dict, ctx: Ctx) -> None:
        handler = HANDLERS.get(key[0])
        if handler is None:
            return
        state = view.get(key)
        fresh = state is None
        state = {} if fresh else state
        if handler(key, state, fact, ctx):
            view.put(key, state)
            self._index(g, view, key, state)

    def _index(self, g: str, view: View, key: str, state: dict) -> None:
        checks = next_checks(state)
        due = view.get(g + "due") or {}
        if checks:
            value = [list(c) for c in checks]
            if due.get(key) != value:
                due = dict(due)
                due[key] = value
                view.put(g + "due", due)
        elif key in due:
            due = dict(due)
            del due[key]
            view.put(g + "due", due)
        wait = view.get(g + "wait") or {}
        waiting = state.get("wait")
        if waiting:
            ro = waiting[0].get("ro") or 0.0
            if wait.get(key) != ro:
                wait = dict(wait)
                wait[key] = ro
                view.put(g + "wait", wait)
        elif key in wait:
            wait = dict(wait)
            del wait[key]
            view.put(g + "wait", wait)

    def _clock_driven(self, g: str, view: View, clock: Clock, ref_done: float, ctx: Ctx) -> None:
        reached: dict[str, str] = {}  # per stream: the Beijing date its clock has reached (ISO), "" none yet

        def due(day: str, stream: str) -> bool:
            """Has the stream's clock reached the start of `day` (00:00 Beijing time)? The same as
            `now >= start_of(day)`, as one string comparison per check: the index is scanned
            whenever the clock moves (measured: 20% of the agent's time before)."""
            if stream not in reached:
                now = clock.now(stream)
                reached[stream] = "" if now is None else local_date(now).isoformat()
            today = reached[stream]
            return today != "" and day <= today

        for key, checks in list((view.get(g + "due") or {}).items()):
            if any(due(day, stream) for day, stream in checks):
                state = view.get(key)
                if state is not None and on_clock(key, state, ctx):
                    view.put(key, state)
                    self._index(g, view, key, state)
                elif state is not None:
                    self._index(g, view, key, state)
        for key, ro in list((view.get(g + "wait") or {}).items()):
            if ref_done >= ro:
                state = view.get(key)
                handler = HANDLERS.get(key[0])
                if state is not None and handler is not None and handler(key, state, {"f": "wake"}, ctx):
                    view.put(key, state)
                    self._index(g, view, key, state)

    def _alert(self, g: str, view: View, fact: dict, out: Output) -> None:
        key = fact["k"]
        raw = view.get(key)
        state = AlertState.from_wire(raw) if raw else None
        if fact["f"] == "finding":
            f = Finding.from_wire(fact["x"])
            cfg = self.configs.get(f.rule_id, f.budget_year)
            if f.fund_code is None and f.details.get("indicator_id"):
                meta = view.get(f"{g}ind:{f.details['indicator_id']}")
                if meta:
                    f = replace(f, fund_code=meta["fund"])
            group = self._group(g, f.region, f.fund_code, view.get(g + "routes") or [])
            decision = on_finding(state, f, Settings(cfg.level, cfg.escalate_to, cfg.shadow, group))
        elif fact["f"] == "dispose":
            cmd = DispositionFiled.model_validate(fact["cmd"])
            decision = on_disposition(state, Disposition(
                cmd.disposition_id, cmd.alert_id, DispositionAction(cmd.action), cmd.actor, cmd.findings, fact["at"],
                cmd.method.value if cmd.method else None, tuple(a.value for a in cmd.corrective_actions),
                tuple(cmd.attachments)))
            if decision.refusal:
                out.refusals.append({"disposition_id": cmd.disposition_id, "alert_id": cmd.alert_id,
                                     "action": cmd.action.value, "actor": cmd.actor, "reason": decision.refusal,
                                     "level": state.level if state else None, "at": fact["at"],
                                     "region": state.region if state else None})
        else:
            return
        self._apply_decision(key, view, state, decision, out)

    def _group(self, g: str, region: str, fund_code: str | None, routes: list[dict]) -> str:
        """`responsible_group`, remembered per version of the partition's routes (a route is only
        ever added last, with the next sequence number)."""
        version = (len(routes), routes[-1]["seq"] if routes else 0)
        known = self._groups.get(g)
        if known is None or known[0] != version:
            known = self._groups[g] = (version, {})
        found = known[1].get((region, fund_code))
        if found is None:
            found = known[1][(region, fund_code)] = responsible_group(region, fund_code, routes)
        return found

    @staticmethod
    def _apply_decision(key: str, view: View, before: AlertState | None, decision: Decision, out: Output) -> None:
        if decision.state is not None and decision.state != before:
            view.put(key, decision.state.to_wire())
        out.transitions.extend(decision.transitions)
