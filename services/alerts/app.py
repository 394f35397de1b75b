"""The faust-streaming alerts worker: wiring only — the rules, the engine and the life cycle
are pure modules this file calls.

    source topics ──router (aiokafka, batches)──▶ <prefix>.alerts.work.v1 (P partitions)
        reference, indicator, payment,             facts keyed by entity / alert,
        performance, ledger, alert-command         one message per partition and round
                                                        │
                  faust agent `work` + the state of its partitions (same partitioning),
                  kept in memory and on the compacted <prefix>.alerts.state.v1
                                                        │ Engine.process(p, state, message)
                                                        ▼
                               fundwatch.alert.v1 (transitions, refused dispositions)

Why the router is not a faust agent: a faust stream costs ~200 µs per message before any
work (measured on the embedded broker: 4.9k msg/s for a no-op agent, with or without
`take()`), which leaves too little of the 333 µs an event may take at 3,000 events/s. The
router reads the source topics with aiokafka in batches (~90k msg/s raw), and hands faust one
message per partition and round, so faust's per-message cost is paid per batch of facts.

Why the state is not a faust table: a table write costs ~110 µs (a changelog FutureMessage
attached to the event), and — the deciding point — after a kill -9 faust's table recovery
handed the agent messages while the store still lacked part of the changelog (measured on the
embedded broker: 6 keys differing at the first message, and alerts lost or raised falsely in 3
of 6 kill tests). The worker keeps the state itself: the agent writes the keys a message changed
into a dict and sends them to the state topic together with the message's output, in one round
trip (the output is also kept in the state as the partition's outbox, `G<p>:out`); on taking a
partition (start, crash, rebalance) it reads that partition of the state topic back before
applying the first message, and sends the outbox again (`Worker.recover`).

Pacing: a round that is not full is followed by a wait until the agent has worked off what this
process wrote (rounds, ticks, forwards), at most `router_linger_s` — group commit: rounds are small
and quick while the agent keeps up and grow (cheaper per event) while it trails, instead of a fixed
linger every event pays in full.

At-least-once everywhere: the router commits source offsets only after the broker acked the
facts; the agent's offset is committed by faust after the output and the state were acked;
the state tracks what it holds (`Engine._unseen`: the last work offset applied, the last source
record per source partition, the last forwarding message per partition), so a message, a routed
record or a forward that comes again after a crash is not applied twice; one open alert per
(rule, subject); redelivered transitions carry the same transition id."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import logging
import re
import time
from collections import Counter, defaultdict
from typing import Any

import faust
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import NewTopic
from aiokafka.partitioner import murmur2
from faust.transport.drivers import aiokafka as aiokafka_driver
from pydantic import ValidationError

from contracts.alert import AlertEvidence, AlertTransitioned, DispositionRefused
from contracts.control import RuleConfigured
from contracts.envelope import ENVELOPES, Envelope, make_event, parse_event
from contracts.ledger import PostingApplied
from contracts.topics import TOPICS, Family
from services.alerts.catalogue import CATALOGUE
from services.alerts.clock import ClockMode, Progress
from services.alerts.config import AlertsSettings, RuleConfigs
from services.alerts.engine import Engine, Output
from services.alerts.lifecycle import Transition
from services.alerts.routing import BROADCAST, partition_of, route, watermark_of
from services.runtime.kafka import (
    Record,
    create_missing_topics,
    make_consumer,
    make_producer,
    send_and_wait,
    send_dead_letter,
)
from services.runtime.settings import Settings

log = logging.getLogger(__name__)
SOURCES = (Family.reference, Family.indicator, Family.payment, Family.performance, Family.ledger,
           Family.alert_command)
FORWARD_DEPTH = 3  # fact → derived fact → finding → alert: hops a fact's consequences may take
_TYPE = re.compile(rb'"type"\s*:\s*"([a-z_.]+)"')


def parse_fast(raw: bytes) -> Envelope:
    """`parse_event` without the discriminated-union dispatch (twice as fast): the event type is
    read from the JSON first, then validated by its own envelope model."""
    match = _TYPE.search(raw)
    model = ENVELOPES.get(match.group(1).decode()) if match else None
    if model is None:
        return parse_event(raw)
    return model.model_validate_json(raw)


def transition_event(t: Transition) -> Envelope:
    spec = CATALOGUE[t.rule_id]
    data = AlertTransitioned(
        alert_id=t.alert_id, transition_id=t.transition_id, transition=t.kind, rule_id=t.rule_id,
        category=spec.category, title_zh=spec.title_zh, title_en=spec.title_en, subject=t.subject,
        from_level=t.from_level, level=t.level, open=t.open, fund_code=t.fund_code, group_code=t.group_code,
        actor=t.actor, at=dt.datetime.fromisoformat(t.at), method=t.method, findings=t.findings[:2000],
        evidence_event_ids=[e.event_id for e in t.evidence][:100],
        evidence=[AlertEvidence(event_id=e.event_id, type=e.type, region=e.region,
                                time=dt.datetime.fromisoformat(e.time) if e.time else None,
                                facts={k: v[:200] for k, v in e.facts}) for e in t.evidence][:20],
        due=dt.date.fromisoformat(t.due) if t.due else None, shadow=t.shadow, budget_year=t.budget_year,
        disposition_id=t.disposition_id, corrective_actions=list(t.corrective_actions),
        attachments=list(t.attachments),
    )
    return make_event("alert.transitioned", data, id=t.transition_id, region=t.region, time=data.at,
                      source="/fundwatch/alerts", subject=t.subject)


def refusal_event(r: dict) -> Envelope:
    at = dt.datetime.fromisoformat(r["at"])
    data = DispositionRefused(disposition_id=r["disposition_id"], alert_id=r["alert_id"], action=r["action"],
                              actor=r["actor"], reason=r["reason"][:500], level=r.get("level"), at=at)
    return make_event("alert.disposition_refused", data, id=f"{r['disposition_id']}.refused",
                      region=r.get("region") or "000000", time=at, source="/fundwatch/alerts",
                      subject=r["alert_id"])


class Worker:
    """The pieces around the faust app: router, config reader, publisher, counters."""

    def __init__(self, settings: Settings, alerts: AlertsSettings) -> None:
        self.settings = settings
        self.alerts = alerts
        self.partitions = alerts.partitions
        self.mode = alerts.clock_mode(settings.mode)
        self.configs = RuleConfigs()
        self.engine = Engine(self.configs, self.mode, self.partitions, TOPICS[Family.reference].partitions)
        self.counters: Counter[str] = Counter()
        self.timings: dict[str, float] = defaultdict(float)  # where the agent's time goes (status page)
        self.progress = Progress()
        self.ref_caught: dict[str, float] = {}
        self.configs_ready = asyncio.Event()
        self.producer: Any = None  # made on the worker's event loop (`start`)
        self.upstream: AIOKafkaConsumer | None = None  # reads the ledger group's committed offsets
        self.agent_progress: AIOKafkaConsumer | None = None  # reads the agent's committed work offsets
        self.app_id = f"{settings.topic_prefix}-alerts"  # the faust app id, also its consumer group
        self.drain_target: dict[TopicPartition, int] | None = None  # work-topic offsets the agent must reach
        self.drain_rounds = 0
        self.at_end: dict[TopicPartition, bool] = {}  # source partitions read to their end (last poll)
        self.work_topic_name = f"{settings.topic_prefix}.alerts.work.v1"
        self.started = asyncio.Event()
        self.state_topic_name = f"{settings.topic_prefix}.alerts.state.v1"
        # the state of the partitions this worker holds (engine.py lists the keys), each value as the
        # JSON the state topic holds: ~50k keys of nested dicts made the cycle collector stop the
        # agent for up to 0.85 s at a time; bytes it does not look at
        self.store: dict[str, bytes] = {}
        self.keys_of: dict[int, set[str]] = defaultdict(set)
        self.recovered: set[int] = set()  # partitions whose state has been read back from the state topic
        self.assigned: set[int] = set()  # work-topic partitions this worker's agent holds
        self.work_sent: dict[int, int] = {}  # per work partition: the last offset this process wrote
        self.work_done: dict[int, int] = {}  # per work partition: the last offset the agent has processed
        self.agent_moved = asyncio.Event()

    def cfg(self, rule_id: str, year: int | None):
        c = self.configs.get(rule_id, year)
        return c if c.enabled else None

    # ------------------------------------------------------------------ rule configuration

    async def read_configs(self, stopping: asyncio.Event) -> None:
        """Fold every `rule.configured` into memory: all of the topic at start (before any event is
        routed), then each change as it comes — no restart needed."""
        topic = self.settings.topic(Family.rule_config)
        consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap, enable_auto_commit=False,
                                    auto_offset_reset="earliest")
        await consumer.start()
        try:
            tps = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or {0})]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            while not stopping.is_set():
                batches = await consumer.getmany(timeout_ms=300)
                for records in batches.values():
                    for record in records:
                        try:
                            event = parse_event(record.value)
                        except (ValidationError, ValueError):
                            continue
                        if isinstance(event.data, RuleConfigured) and self.configs.apply(event.data):
                            self.counters["configs_applied"] += 1
                if not self.configs_ready.is_set():
                    positions = [await consumer.position(tp) for tp in tps]
                    if all(pos >= ends[tp] for pos, tp in zip(positions, tps, strict=True)):
                        self.configs_ready.set()
        finally:
            await consumer.stop()

    # ------------------------------------------------------------------ stage 1: the router

    async def route_sources(self, stopping: asyncio.Event) -> None:
        await self.configs_ready.wait()
        topics = [self.settings.topic(f) for f in SOURCES]
        consumer = make_consumer(self.settings, f"{self.settings.topic_prefix}.alerts-router", *topics,
                                 max_poll_records=self.alerts.router_batch)
        await consumer.start()
        reference = self.settings.topic(Family.reference)
        # not flushed yet: a restarted worker whose router finds nothing new still owes the flush its
        # predecessor may not have sent (the agent may still be working off the backlog)
        last_records, flushed = time.time(), False
        try:
            while not stopping.is_set():
                batches = await consumer.getmany(timeout_ms=100, max_records=self.alerts.router_batch)
                now = time.time()
                caught_up = True
                # read to its end: the position has reached the end offset and the round brought
                # nothing for the partition. (The embedded broker reports the end as the last record
                # batch's base offset + 1, so a position past it may still have the rest of that
                # batch ahead; a round without records for it is what says the end is reached.)
                for tp in consumer.assignment():
                    high = consumer.highwater(tp)
                    at_end = tp not in batches and high is not None and await consumer.position(tp) >= high
                    self.at_end[tp] = at_end
                    caught_up = caught_up and at_end
                    if tp.topic == reference and at_end:
                        self.ref_caught[str(tp.partition)] = now
                # reference facts first: whatever the round brings of it is then known to the
                # checks of the same round that ask for it
                records = [r for tp, rs in sorted(batches.items(), key=lambda kv: kv[0].topic != reference)
                           for r in rs]
                if not records:
                    if caught_up and not flushed and now - last_records >= self.alerts.flush_idle_s \
                            and await self._ready_to_flush(consumer):
                        await self._flush(now)  # the input has ended: silent streams catch up (clock.Progress.flush)
                        flushed = True
                    continue
                last_records, flushed = now, False
                self.drain_target = None  # new input: the agent's progress is measured afresh
                await self._route(records, now, consumer)
                await consumer.commit()
                if len(records) < self.alerts.router_batch:
                    # not a full round: let records gather while the agent works off this one
                    await self.wait_for_agent(now + self.alerts.router_linger_s)
        finally:
            await consumer.stop()

    def _aligned(self, event: Envelope, consumer: AIOKafkaConsumer) -> bool:
        """May the ledger's posting go on now? Only after the event it books has been routed, and
        the county's indicator events up to the posting's time: the posting and its sources
        travel on different topics, and the indicator rules must see a registration (which opens
        its checkpoints) before the payments booked on it, whatever order a backlog is read in
        (e.g. by a restarted worker that finds every topic full)."""
        if not isinstance(event.data, PostingApplied):
            return True
        family = event.data.source_event_type.split(".", 1)[0]
        if family not in ("indicator", "payment"):
            return True
        return all(self._routed_up_to(f, event, consumer) for f in {family, "indicator"})

    def _routed_up_to(self, family: str, event: Envelope, consumer: AIOKafkaConsumer) -> bool:
        unit = event.region[:6]
        mark = self.progress.marks.get(f"{family}/{unit}")
        if mark is not None and mark >= event.time:
            return True
        topic = self.settings.topic(Family(family))
        partitions = sorted(consumer.partitions_for_topic(topic) or ())
        if not partitions:
            return True
        tp = TopicPartition(topic, partitions[(murmur2(unit.encode()) & 0x7FFFFFFF) % len(partitions)])
        if tp not in consumer.assignment():
            return True  # another worker reads that input: nothing to wait for here
        return self.at_end.get(tp, False)  # read to its end (e.g. before a restart): the source was routed

    async def _route(self, records: list, now: float, consumer: AIOKafkaConsumer | None = None) -> None:
        per: dict[int, list[dict]] = defaultdict(list)
        held: dict[TopicPartition, int] = {}
        ledger_topic = self.settings.topic(Family.ledger)
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            if tp in held:
                continue
            try:
                event = parse_fast(record.value)
            except (ValidationError, ValueError) as exc:
                self.counters["dead_lettered"] += 1
                await send_dead_letter(self.producer, self.settings, source_topic=record.topic,
                                       partition=record.partition, offset=record.offset, value=record.value,
                                       reason=f"invalid event: {exc}")
                continue
            if consumer is not None and record.topic == ledger_topic and not self._aligned(event, consumer):
                held[tp] = record.offset  # read again once the input has caught up
                self.counters["postings_held"] += 1
                continue
            mark = watermark_of(event)
            if mark:
                self.progress.observe(*mark)
            try:
                facts = route(event, self.cfg)
            except Exception:
                log.exception("routing %s %s failed", event.type, event.id)
                self.counters["route_errors"] += 1
                continue
            self.counters["events"] += 1
            source = f"{record.topic}:{record.partition}"
            for fact in facts:
                fact["ro"] = now
                fact["s"] = (source, record.offset)  # a record routed again after a restart is known by this
                if fact["k"] == BROADCAST:
                    for p in range(self.partitions):
                        per[p].append(fact)
                else:
                    per[partition_of(fact["k"], self.partitions)].append(fact)
        marks = self.progress.drain()
        ref = dict(self.ref_caught)
        messages = []
        for p in range(self.partitions):
            if not per.get(p) and not marks:
                continue
            message = {"facts": per.get(p, []), "marks": marks, "ref": ref, "wall": now}
            messages.append(Record(self.work_topic_name, orjson.dumps(message), partition=p))
            self.counters["facts"] += len(per.get(p, ()))
        self.sent(await send_and_wait(self.producer, messages))
        for tp, offset in held.items():
            consumer.seek(tp, offset)  # type: ignore[union-attr]

    async def _upstream_done(self, consumer: AIOKafkaConsumer) -> bool:
        """Has the ledger consumed everything the router has? Its derived stream is part of the
        input; an end-of-input flush while the ledger still works would judge checkpoints on
        balances it has not booked yet. Read from the ledger group's committed offsets (the
        ledger commits its broker offsets after each batch) through a consumer that names the
        group but never joins it; no offsets at all: no ledger, nothing to wait for."""
        group = self.alerts.upstream_group or f"{self.settings.topic_prefix}.ledger"
        watched = {self.settings.topic(f) for f in (Family.reference, Family.indicator, Family.payment)}
        tps = [tp for tp in consumer.assignment() if tp.topic in watched]
        try:
            if self.upstream is None:
                self.upstream = AIOKafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap, group_id=group,
                                                 enable_auto_commit=False)
                await self.upstream.start()
            committed = {tp: await self.upstream.committed(tp) for tp in tps}
            ends = await consumer.end_offsets(tps)
        except Exception:
            log.debug("upstream progress unknown", exc_info=True)
            return False
        if all(c is None for c in committed.values()):
            return True
        return all((committed[tp] or 0) >= ends[tp] for tp in tps)

    async def _ready_to_flush(self, consumer: AIOKafkaConsumer) -> bool:
        if not await self._upstream_done(consumer):
            self.counters["flush_waits:upstream"] += 1
            return False
        if not await self._work_done():
            self.counters["flush_waits:agent"] += 1
            return False
        return True

    async def _work_done(self) -> bool:
        """Has the agent worked off the work topic? Processing a fact may forward derived facts
        to other partitions (entity → entity → alert: at most `FORWARD_DEPTH` hops); a flush
        that overtook them would decide a checkpoint before the facts it depends on arrive (e.g.
        after a restart, when the agent works off a backlog the router has long routed). The
        timer keeps appending ticks, so "committed == end" never holds for long; instead the
        end offsets are taken as a target and the agent's committed offsets must reach it, once
        per hop: a forward is produced before the offset of the message that made it is
        committed, so each round covers one more hop."""
        tps = [TopicPartition(self.work_topic_name, p) for p in range(self.partitions)]
        try:
            if self.agent_progress is None:
                self.agent_progress = AIOKafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap,
                                                       group_id=self.app_id, enable_auto_commit=False)
                await self.agent_progress.start()
            committed = {tp: await self.agent_progress.committed(tp) or 0 for tp in tps}
            ends = await self.agent_progress.end_offsets(tps)
        except Exception:
            log.debug("agent progress unknown", exc_info=True)
            return False
        target = self.drain_target
        if target is not None and all(committed[tp] >= target[tp] for tp in tps):
            self.drain_rounds += 1
            if self.drain_rounds >= FORWARD_DEPTH:
                self.drain_target, self.drain_rounds = None, 0
                return True
            self.drain_target = ends
        elif target is None:
            self.drain_target, self.drain_rounds = ends, 0
        return False

    async def _flush(self, now: float) -> None:
        message = orjson.dumps({"facts": [], "marks": self.progress.drain(), "flush": self.progress.furthest() or True,
                                "ref": dict(self.ref_caught), "wall": now})
        await self._to_every_partition(message)
        self.counters["flushes"] += 1

    async def tick(self) -> None:
        """Timers: wall time (live mode), reference progress (waiting checks) for every partition."""
        now = time.time()
        message = orjson.dumps({"facts": [], "tick": True, "wall": now, "ref": dict(self.ref_caught)})
        await self._to_every_partition(message)

    async def _to_every_partition(self, message: bytes) -> None:
        self.sent(await send_and_wait(self.producer, [Record(self.work_topic_name, message, partition=p)
                                                      for p in range(self.partitions)]))

    # ------------------------------------------------------------------ pacing: router rounds follow the agent

    def sent(self, last: dict[TopicPartition, int]) -> None:
        """Note the work-topic offsets this process has written (rounds, ticks, forwards)."""
        for tp, offset in last.items():
            if tp.topic == self.work_topic_name and offset > self.work_sent.get(tp.partition, -1):
                self.work_sent[tp.partition] = offset

    def worked(self, p: int, offset: int) -> None:
        """The agent is done with the message at `offset` of work partition `p`."""
        if offset > self.work_done.get(p, -1):
            self.work_done[p] = offset
        self.agent_moved.set()

    def agent_behind(self) -> bool:
        """Has the agent messages ahead of it that this process wrote to the partitions it holds?"""
        return any(self.work_done.get(p, -1) < offset for p, offset in self.work_sent.items() if p in self.assigned)

    async def wait_for_agent(self, until: float) -> None:
        """Wait until the agent has worked off what this process wrote (forwards included), at most
        until `until` (wall time). The router's next round then carries whatever arrived
        meanwhile: rounds are as large as the agent's pace needs — small and quick while it keeps
        up, larger (cheaper per event) while it trails — instead of a fixed linger that every
        event pays in full (group commit). Partitions another worker holds are not waited for."""
        while self.agent_behind():
            self.agent_moved.clear()
            remaining = until - time.time()
            if remaining <= 0:
                self.counters["router_lingered_out"] += 1
                return
            try:
                await asyncio.wait_for(self.agent_moved.wait(), remaining)
            except TimeoutError:
                self.counters["router_lingered_out"] += 1
                return

    # ------------------------------------------------------------------ stage 2: output of one message

    def output_records(self, out: Output) -> list[Record]:
        """A message's output: alert transitions and refusals, facts for other partitions."""
        alert_topic = self.settings.topic(Family.alert)
        records = []
        for t in out.transitions:
            event = transition_event(t)
            records.append(Record(alert_topic, event.to_json(), event.key))
            self.counters[f"transitions:{t.kind.value}"] += 1
            self.counters[f"rule:{t.rule_id}"] += t.kind.value == "raised"
        for r in out.refusals:
            event = refusal_event(r)
            records.append(Record(alert_topic, event.to_json(), event.key))
            self.counters["refused"] += 1
        for q, facts in out.forwards.items():
            forward = {"facts": facts, "from": out.origin} if out.origin else {"facts": facts}
            records.append(Record(self.work_topic_name, orjson.dumps(forward), partition=q))
            self.counters["facts"] += len(facts)
        return records

    @staticmethod
    def with_outbox(p: int, dirty: dict[str, Any], records: list[Record]) -> dict[str, bytes]:
        """The state a message leaves, encoded and in the order it is written: the keys it changed, its output
        as `G<p>:out` (output and state go out together, in one round trip, and if the state lands
        but the output does not, `recover` sends the output again), and its tracking record last —
        the state topic keeps a partition's records in order, so when the tracking record of a
        message is there, everything else the message wrote is there too."""
        track = f"G{p}:track"
        ordered = {k: v for k, v in dirty.items() if k != track}
        if records:
            ordered[f"G{p}:out"] = [[r.topic, r.key.decode() if r.key is not None else None, r.value.decode(),
                                     r.partition] for r in records]
        if track in dirty:
            ordered[track] = dirty[track]
        return {key: orjson.dumps(value) for key, value in ordered.items()}

    async def deliver(self, p: int, output: list[Record], dirty: dict[str, bytes]) -> None:
        """Send a message's output and its state (the outbox included) and wait for both."""
        state = [Record(self.state_topic_name, value, orjson.dumps(key), p) for key, value in dirty.items()]
        self.sent(await send_and_wait(self.producer, output + state))
        self.counters["state_writes"] += len(dirty)
        self.counters["state_bytes"] += sum(len(r.value) for r in state)

    def remember(self, p: int, dirty: dict[str, bytes]) -> None:
        """Take a message's changes into the store: the next message reads them."""
        self.store.update(dirty)
        self.keys_of[p].update(dirty)

    async def recover(self, p: int) -> int:
        """Rebuild partition `p` of the state from the state topic, before the agent takes its
        first message of `p` (after a start, a crash or a rebalance); returns the keys read."""
        tp = TopicPartition(self.state_topic_name, p)
        consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap, enable_auto_commit=False,
                                    fetch_max_wait_ms=self.settings.fetch_wait_ms)
        await consumer.start()
        latest: dict[str, bytes | None] = {}
        try:
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            end = (await consumer.end_offsets([tp]))[tp]
            while True:
                records = (await consumer.getmany(tp, timeout_ms=200)).get(tp, ())
                for record in records:
                    latest[orjson.loads(record.key)] = record.value
                # past the end offset and nothing more: the embedded broker reports the end as the
                # last record batch's base offset + 1, so the rest of that batch may still come
                if not records and await consumer.position(tp) >= end:
                    break
        finally:
            await consumer.stop()
        for key in self.keys_of.pop(p, ()):
            self.store.pop(key, None)
        kept = {k: v for k, v in latest.items() if v is not None}
        self.remember(p, kept)
        self.counters["recovered_keys"] += len(kept)
        self.recovered.add(p)
        # the output of the partition's last message with output: its state is here, so it will
        # not be processed again — whether the output got out too is not known, so send it again
        # (transitions carry their ids, forwards their origin: repeats are dropped downstream)
        outbox = orjson.loads(kept[f"G{p}:out"]) if f"G{p}:out" in kept else None
        if outbox:
            resend = [Record(topic, value.encode(), key.encode() if key is not None else None, partition)
                      for topic, key, value, partition in outbox]
            await _retrying(self._resend, resend)
            self.counters["outputs_resent"] += len(resend)
        return len(kept)


    async def _resend(self, records: list[Record]) -> None:
        self.sent(await send_and_wait(self.producer, records))


def _app_class(fetch_wait_ms: int) -> type[faust.App]:
    """faust.App whose agent consumer waits at most `fetch_wait_ms` per fetch (`Settings.fetch_wait_ms`)
    instead of the 1,500 ms faust fixes: the embedded broker holds a fetch for all of it, and an
    alert may take three hops through the work topic."""

    class AgentConsumerThread(aiokafka_driver.AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport):
            consumer = super()._create_worker_consumer(transport)
            consumer._fetch_max_wait_ms = fetch_wait_ms  # read by AIOKafkaConsumer.start() for its fetcher
            return consumer

    class AgentConsumer(aiokafka_driver.Consumer):
        def _new_consumer_thread(self):
            return AgentConsumerThread(self, loop=self.loop, beacon=self.beacon)

    class AgentTransport(aiokafka_driver.Transport):
        Consumer = AgentConsumer

    class App(faust.App):
        def _new_transport(self):
            return AgentTransport(self.conf.broker_consumer, self)

    return App


def build(settings: Settings, alerts: AlertsSettings | None = None) -> tuple[faust.App, Worker]:
    alerts = alerts or AlertsSettings()
    worker = Worker(settings, alerts)
    app = _app_class(settings.fetch_wait_ms)(
        worker.app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",
        broker_session_timeout=settings.session_timeout_ms / 1000,
        broker_rebalance_timeout=settings.rebalance_timeout_ms / 1000,
        broker_heartbeat_interval=settings.heartbeat_interval_ms / 1000,
        consumer_auto_offset_reset="earliest",
        topic_partitions=alerts.partitions,
        topic_replication_factor=1,
        producer_acks=-1,
        web_enabled=alerts.worker_port is not None,
        web_host=settings.host,
        web_port=alerts.worker_port or 6066,
        web_in_thread=False,
        broker_commit_interval=1.0,  # the end-of-input flush waits for the agent's committed offsets
    )
    work_topic = app.topic(worker.work_topic_name, partitions=alerts.partitions, internal=True,
                           key_serializer="raw", value_serializer="raw")
    stopping = asyncio.Event()

    @app.agent(work_topic)
    async def work(stream):
        timings = worker.timings
        await worker.started.wait()  # the producer: the output of the first message goes through it
        done = time.perf_counter()
        async for event in stream.events():
            t0 = time.perf_counter()
            timings["waiting"] += t0 - done  # for faust to hand over the next message
            p = event.message.partition
            if p not in worker.recovered:
                await worker.recover(p)
            try:
                message = orjson.loads(event.value)
            except orjson.JSONDecodeError:
                worker.counters["bad_messages"] += 1
                worker.worked(p, event.message.offset)
                continue
            out = worker.engine.process(p, worker.store, message, event.message.offset)
            worker.counters["messages"] += 1
            worker.counters["message_bytes"] += len(event.value)
            worker.counters["redelivered"] += out.redelivered
            worker.counters["facts_applied"] += len(message.get("facts") or ())
            worker.counters["engine_errors"] += out.errors
            output = worker.output_records(out)
            dirty = worker.with_outbox(p, out.dirty, output)
            worker.remember(p, dirty)
            t1 = time.perf_counter()
            await _retrying(worker.deliver, p, output, dirty)
            worker.worked(p, event.message.offset)
            done = time.perf_counter()
            timings["engine"] += t1 - t0
            timings["deliver"] += done - t1

    @app.on_partitions_revoked.connect
    async def revoked(app, revoked, **kwargs) -> None:
        # a partition that comes back later is checked again: its state may have moved on elsewhere
        mine = {tp.partition for tp in revoked if tp.topic == worker.work_topic_name}
        worker.recovered.difference_update(mine)
        worker.assigned.difference_update(mine)
        worker.agent_moved.set()

    @app.on_partitions_assigned.connect
    async def assigned(app, assigned, **kwargs) -> None:
        worker.assigned = {tp.partition for tp in assigned if tp.topic == worker.work_topic_name}

    @app.task
    async def gc_pauses() -> None:
        # the cycle collector stops the agent while it walks the heap: its pauses are the first
        # suspect when event-to-alert latency has a long tail (status page: gc_*)
        started = [0.0]

        def timed(phase: str, info: dict) -> None:
            if phase == "start":
                started[0] = time.perf_counter()
                return
            pause = time.perf_counter() - started[0]
            worker.timings[f"gc{info['generation']}"] += pause
            worker.timings[f"gc{info['generation']}_max"] = max(worker.timings[f"gc{info['generation']}_max"], pause)

        gc.callbacks.append(timed)

    @app.task
    async def producer() -> None:
        # no linger: the agent awaits its output and state acks once per message (measured on Tansu:
        # 3.0 ms per awaited send at linger 2 ms, 0.45 ms at 0); bulk sends batch on their own
        await _retrying(ensure_state_topic, settings, worker.state_topic_name, alerts.partitions)
        worker.producer = make_producer(settings, linger_ms=0)
        await worker.producer.start()
        worker.started.set()

    @app.task
    async def configs() -> None:
        await worker.started.wait()
        await worker.read_configs(stopping)

    @app.task
    async def router() -> None:
        await worker.started.wait()
        await worker.route_sources(stopping)

    @app.timer(interval=alerts.tick_s)
    async def ticker() -> None:
        if worker.started.is_set() and worker.configs_ready.is_set():
            await _retrying(worker.tick)

    if alerts.worker_port is not None:
        @app.page("/healthz")
        async def healthz(web, request):
            return web.json({"status": "ok"})

        @app.page("/v1/status")
        async def status(web, request):
            return web.json({"counters": dict(worker.counters), "mode": worker.mode.value,
                             "agent_seconds": {k: round(v, 3) for k, v in worker.timings.items()},
                             "configs": worker.configs.version})

        @app.page("/v1/state")
        async def explain(web, request):
            """What the worker holds about one entity or alert key (`?key=I:IND-…`), for operators
            asking why a rule did or did not fire. Internal port: personal data only as hashes."""
            key = request.query.get("key", "")
            value = worker.store.get(key)
            return web.json({"key": key, "state": None if value is None else orjson.loads(value)})

    return app, worker


async def ensure_state_topic(settings: Settings, name: str, partitions: int) -> None:
    """The worker's state topic: compacted (the latest value per key is the state), one partition
    per work-topic partition."""
    await create_missing_topics(settings, [NewTopic(name, partitions, 1, topic_configs={"cleanup.policy": "compact"})])


async def _retrying(fn, *args) -> None:
    """Publish until the broker takes it: the output of a message must not be lost, and the
    message's offset is not committed before this returns."""
    delay = 0.2
    while True:
        try:
            await fn(*args)
            return
        except Exception:
            log.exception("alerts output failed; retrying")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


__all__ = ["ClockMode", "Worker", "build", "parse_fast", "refusal_event", "transition_event"]
