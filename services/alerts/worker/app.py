"""The faust-streaming alerts worker: wiring only — the rules, the engine and the life cycle
are pure modules this file calls.

    source topics ──router (own process)──▶ <prefix>.alerts.work.v1 (P partitions)
        reference, indicator, payment,             facts keyed by entity / alert,
        performance, ledger, alert-command         one message per partition and round
                                                        │
                  faust agent `work` + the state of its partitions (same partitioning),
                  kept in memory and on the compacted <prefix>.alerts.state.v1
                                                        │ Engine.process(p, state, message)
                                                        ▼
                               fundwatch.alert.v1 (transitions, refused dispositions)

The protocol between the stages is typed and described once, in `facts.py` (`Work`: msgpack).

Why the router is not a faust agent: a faust stream costs ~200 µs per message before any
work (measured on the embedded broker: 4.9k msg/s for a no-op agent, with or without
`take()`), which leaves too little of the 333 µs an event may take at 3,000 events/s. The
router reads the source topics with aiokafka in batches (~90k msg/s raw), and hands faust one
message per partition and round, so faust's per-message cost is paid per batch of facts. It
runs in a process of its own, started and watched by the worker (`router.py` says why).

Why the state is not a faust table: a table write costs ~110 µs (a changelog FutureMessage
attached to the event), and — the deciding point — after a kill -9 faust's table recovery
handed the agent messages while the store still lacked part of the changelog (measured on the
embedded broker: 6 keys differing at the first message, and alerts lost or raised falsely in 3
of 6 kill tests). The worker keeps the state itself: the agent writes the keys a message changed
into a dict and sends them to the state topic together with the message's output, in one round
trip (the output is also kept in the state as the partition's outbox, `G<p>:out`); on taking a
partition (start, crash, rebalance) it reads that partition of the state topic back before
applying the first message, and sends the outbox again (`Worker.recover`).

Pacing: a round that is not full is followed by a wait until the agent has worked off what the
worker wrote (rounds, ticks, forwards), at most `router_linger_s` — group commit: rounds are small
and quick while the agent keeps up and grow (cheaper per event) while it trails, instead of a fixed
linger every event pays in full.

At-least-once everywhere: the router commits source offsets only after the broker acked the
facts; the agent's offset is committed by faust after the output and the state were acked;
the state tracks what it holds (`Engine._unseen`: the last work offset applied, the last source
record per source partition, the last forwarding message per partition), so a message, a routed
record or a forward that comes again after a crash is not applied twice; one open alert per
(rule, subject); redelivered transitions carry the same transition id. A fact the engine cannot
apply goes to the dead-letter topic with the reason."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any

import faust
import msgspec
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.transport.drivers import aiokafka as aiokafka_driver

from contracts.alert import AlertEvidence, AlertLevel, AlertTransitioned, DispositionRefused
from contracts.envelope import Envelope, make_event
from contracts.topics import TOPICS, Family
from services.alerts import facts as f
from services.alerts.catalogue import CATALOGUE
from services.alerts.config import AlertsSettings
from services.alerts.engine import Engine, Output, decode_state, encode_state
from services.alerts.lifecycle import Transition
from services.alerts.worker.router import (
    INPUT,
    WORKER_COMPRESSION,
    ConfigFollower,
    RouterProcess,
    retrying,
    work_topic,
)
from services.runtime import metrics
from services.runtime.kafka import (
    Record,
    create_missing_topics,
    make_producer,
    new_topic,
    send_and_wait,
    send_dead_letter,
)
from services.runtime.settings import Settings

log = logging.getLogger(__name__)


def transition_event(t: Transition) -> Envelope:
    spec = CATALOGUE[t.rule_id]
    data = AlertTransitioned(
        alert_id=t.alert_id, transition_id=t.transition_id, transition=t.kind, rule_id=t.rule_id,
        category=spec.category, title_zh=spec.title_zh, title_en=spec.title_en, subject=t.subject,
        from_level=AlertLevel(t.from_level) if t.from_level else None, level=AlertLevel(t.level), open=t.open,
        fund_code=t.fund_code, group_code=t.group_code,
        actor=t.actor, at=dt.datetime.fromisoformat(t.at), method=t.method, findings=t.findings[:2000],
        findings_zh=t.findings_zh[:2000],
        evidence_event_ids=[e.event_id for e in t.evidence][:100],
        evidence=[AlertEvidence(event_id=e.event_id, type=e.type, region=e.region,
                                time=dt.datetime.fromisoformat(e.time) if e.time else None,
                                facts={k: v[:200] for k, v in e.facts}) for e in t.evidence][:20],
        traceparent=next((e.traceparent for e in t.evidence if e.traceparent), None),
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
    """The pieces around the faust agent: its state, its output, its counters, its router process."""

    def __init__(self, settings: Settings, alerts: AlertsSettings) -> None:
        self.settings = settings
        self.alerts = alerts
        self.partitions = alerts.partitions
        self.mode = alerts.clock_mode(settings.mode)
        self.counters: Counter[str] = Counter()
        self.config = ConfigFollower(settings, self.counters)
        self.configs = self.config.configs
        self.engine = Engine(self.configs, self.partitions, event_time=self.mode == "event",
                             lateness=alerts.lateness(), idle_s=alerts.idle_s,
                             ledger_partitions=TOPICS[Family.ledger].partitions,
                             input_partitions={f.value: TOPICS[f].partitions for f in INPUT})
        self.timings: dict[str, float] = defaultdict(float)  # where the agent's time goes (status page)
        self.producer: Any = None  # made on the worker's event loop (`start`): work and state topics, zstd
        self.public_producer: Any = None  # the alert topic, uncompressed
        self.app_id = f"{settings.topic_prefix}-alerts"  # the faust app id, also its consumer group
        self.router: RouterProcess | None = None  # stage 1, started with the worker (`build`)
        self.work_topic_name = work_topic(settings)
        self.started = asyncio.Event()
        self.state_topic_name = f"{settings.topic_prefix}.alerts.state.v1"
        # the state of the partitions this worker holds (engine.py lists the keys), entity and alert
        # values as the JSON the state topic holds: ~50k keys of nested dicts made the cycle collector
        # stop the agent for up to 0.85 s at a time; bytes it does not look at (see `remember`)
        self.store: dict[str, Any] = {}
        self.keys_of: dict[int, set[str]] = defaultdict(set)
        self.recovered: set[int] = set()  # partitions whose state has been read back from the state topic
        self.assigned: set[int] = set()  # work partitions the agent holds

    # ------------------------------------------------------------------ what the router hears of the agent

    def sent(self, last: dict[TopicPartition, int]) -> None:
        """Work-topic offsets the agent wrote (forwards, outputs sent again): the router waits for them too."""
        mine = {tp.partition: offset for tp, offset in last.items() if tp.topic == self.work_topic_name}
        if mine and self.router is not None:
            self.router.tell("sent", mine)

    def worked(self, p: int, offset: int) -> None:
        if self.router is not None:
            self.router.tell("done", p, offset)

    def holds(self, partitions: set[int]) -> None:
        self.assigned = partitions
        if self.router is not None:
            self.router.tell("assigned", sorted(partitions))

    def status(self) -> dict:
        counters = Counter(self.counters)
        counters.update(self.router.counters if self.router is not None else {})
        watermarks = {}
        for p in sorted(self.assigned):
            clock = self.store.get(f"G{p}:clock")
            watermarks[str(p)] = dict(clock.marks) if clock is not None else {}
        return {"counters": dict(counters), "mode": self.mode,
                "router_pid": self.router.process.pid if self.router is not None else None,
                "agent_seconds": {k: round(v, 3) for k, v in self.timings.items()}, "configs": self.configs.version,
                "watermarks": watermarks}

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
            work = f.Work(facts=facts, origin=out.origin)  # type: ignore[arg-type]  # each a member of AnyFact
            records.append(Record(self.work_topic_name, f.encode(work), partition=q))
            self.counters["facts"] += len(facts)
        return records

    async def dead_letters(self, p: int, offset: int, out: Output, raw: bytes) -> None:
        """What the engine could not apply, to the dead-letter topic with the reason."""
        for dead in out.dead:
            value = msgspec.json.encode(dead.fact) if dead.fact is not None else raw[:2000]
            await retrying(send_dead_letter, self.producer, self.settings, source_topic=self.work_topic_name,
                           partition=p, offset=offset, value=value, reason=f"alerts engine: {dead.reason}")
            self.counters["dead_lettered"] += 1

    @staticmethod
    def with_outbox(p: int, dirty: dict[str, Any], records: list[Record]) -> dict[str, bytes | None]:
        """The state a message leaves, encoded and in the order it is written: the keys it changed, its output
        as `G<p>:out` (output and state go out together, in one round trip, and if the state lands
        but the output does not, `recover` sends the output again), and its tracking record last —
        the state topic keeps a partition's records in order, so when the tracking record of a
        message is there, everything else the message wrote is there too."""
        track = f"G{p}:track"
        ordered = {k: v for k, v in dirty.items() if k != track}
        if records:
            ordered[f"G{p}:out"] = [(r.topic, r.key.decode() if r.key is not None else None, r.value, r.partition)
                                    for r in records]
        if track in dirty:
            ordered[track] = dirty[track]
        return {key: encode_state(value) if value is not None else None for key, value in ordered.items()}

    async def deliver(self, p: int, output: list[Record], dirty: dict[str, bytes | None]) -> None:
        """Send a message's output and its state (the outbox included) and wait for both. Alerts go
        through a producer of their own, uncompressed: any stock consumer reads the alert topic."""
        state = [Record(self.state_topic_name, value, key.encode(), p) for key, value in dirty.items()]
        alerts = [r for r in output if r.topic != self.work_topic_name]
        internal = [r for r in output if r.topic == self.work_topic_name] + state
        results = await asyncio.gather(send_and_wait(self.producer, internal),
                                       send_and_wait(self.public_producer, alerts))
        self.sent(results[0])
        self.counters["state_writes"] += len(dirty)
        self.counters["state_bytes"] += sum(len(r.value) for r in state if r.value is not None)

    def remember(self, p: int, dirty: Mapping[str, bytes | None], decoded: dict[str, Any] | None = None) -> None:
        """Take a message's changes into the store: the next message reads them. The partition's
        own keys (`G<p>:…`: clock, due index, routes, funds — few, large, read by every message)
        are kept decoded when the values are at hand; entities and alerts as bytes; None deletes."""
        for key, value in dirty.items():
            if value is None:
                self.store.pop(key, None)
            else:
                self.store[key] = value
        if decoded:
            self.store.update((k, v) for k, v in decoded.items() if k[0] == "G")
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
                    latest[record.key.decode()] = record.value
                # past the end offset and nothing more: the embedded broker reports the end as the
                # last record batch's base offset + 1, so the rest of that batch may still come
                if not records and await consumer.position(tp) >= end:
                    break
        finally:
            await consumer.stop()
        for key in self.keys_of.pop(p, ()):
            self.store.pop(key, None)
        kept = {k: v for k, v in latest.items() if v is not None}
        self.remember(p, kept, {k: decode_state(k, v) for k, v in kept.items() if k[0] == "G"})
        self.counters["recovered_keys"] += len(kept)
        self.counters["recovered_waiting"] += self.engine.rebuild(p, self.store, kept)  # who waits for what
        self.recovered.add(p)
        # the output of the partition's last message with output: its state is here, so it will
        # not be processed again — whether the output got out too is not known, so send it again
        # (transitions carry their ids, forwards their origin: repeats are dropped downstream)
        outbox = decode_state(f"G{p}:out", kept[f"G{p}:out"]) if f"G{p}:out" in kept else None
        if outbox:
            resend = [Record(topic, value, key.encode() if key is not None else None, partition)
                      for topic, key, value, partition in outbox]
            await retrying(self._resend, resend)
            self.counters["outputs_resent"] += len(resend)
        return len(kept)


    async def _resend(self, records: list[Record]) -> None:
        alerts = [r for r in records if r.topic != self.work_topic_name]
        internal = [r for r in records if r.topic == self.work_topic_name]
        results = await asyncio.gather(send_and_wait(self.producer, internal),
                                       send_and_wait(self.public_producer, alerts))
        self.sent(results[0])


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
        topic_replication_factor=settings.topic_replication_factor,
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
        await worker.config.ready.wait()  # the rule configuration, all of it, before the first message
        done = time.perf_counter()
        async for event in stream.events():
            t0 = time.perf_counter()
            timings["waiting"] += t0 - done  # for faust to hand over the next message
            p = event.message.partition
            if p not in worker.recovered:
                await worker.recover(p)
            try:
                message = f.decode(event.value)
            except msgspec.DecodeError as exc:
                worker.counters["bad_messages"] += 1
                await retrying(send_dead_letter, worker.producer, settings, source_topic=worker.work_topic_name,
                               partition=p, offset=event.message.offset, value=event.value[:2000],
                               reason=f"alerts engine: undecodable work message: {exc}")
                worker.worked(p, event.message.offset)
                continue
            if message.cfg and not worker.config.reached(message.cfg):
                await worker.config.wait_for(message.cfg)  # the configuration the router judged it by
                worker.counters["config_waits"] += 1
            out = worker.engine.process(p, worker.store, message, event.message.offset)
            worker.counters["messages"] += 1
            worker.counters["message_bytes"] += len(event.value)
            worker.counters["redelivered"] += out.redelivered
            worker.counters["facts_applied"] += len(message.facts)
            if out.dead:
                await worker.dead_letters(p, event.message.offset, out, event.value)
            output = worker.output_records(out)
            dirty = worker.with_outbox(p, out.dirty, output)
            worker.remember(p, dirty, out.dirty)
            t1 = time.perf_counter()
            await retrying(worker.deliver, p, output, dirty)
            worker.worked(p, event.message.offset)
            done = time.perf_counter()
            timings["engine"] += t1 - t0
            timings["deliver"] += done - t1

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # faust's signal typing wants a sync signature
    async def revoked(app, revoked, **kwargs) -> None:
        # a partition that comes back later is checked again: its state may have moved on elsewhere
        worker.recovered.difference_update(tp.partition for tp in revoked if tp.topic == worker.work_topic_name)
        worker.holds(set())

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]  # faust's signal typing wants a sync signature
    async def assigned(app, assigned, **kwargs) -> None:
        worker.holds({tp.partition for tp in assigned if tp.topic == worker.work_topic_name})

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
        await retrying(ensure_state_topic, settings, worker.state_topic_name, alerts.partitions)
        worker.producer = make_producer(settings, linger_ms=0, compression_type=WORKER_COMPRESSION)
        await worker.producer.start()
        worker.public_producer = make_producer(settings, linger_ms=0)
        await worker.public_producer.start()
        worker.started.set()
        worker.router = RouterProcess(settings, alerts, worker.app_id)
        worker.router.start()
        worker.holds(worker.assigned)  # the agent may have been given its partitions before

    @app.task
    async def configs() -> None:
        await worker.started.wait()
        await worker.config.follow(stopping)

    @app.on_before_shutdown.connect  # type: ignore[arg-type]  # faust's signal typing wants a sync signature
    async def shutting_down(app, **kwargs) -> None:
        stopping.set()
        if worker.router is not None:
            router, worker.router = worker.router, None
            await router.stop()

    if alerts.worker_port is not None:
        @app.page("/healthz")
        async def healthz(web, request):
            return web.json({"status": "ok"})

        @app.page("/v1/status")
        async def status(web, request):
            return web.json(worker.status())

        metrics.register_status("alerts_worker", worker.status)  # /metrics: the status page's numbers as gauges

        @app.page("/metrics")
        async def prometheus(web, request):
            return web.bytes(metrics.exposition(), content_type=metrics.CONTENT_TYPE)

        @app.page("/v1/state")
        async def explain(web, request):
            """What the worker holds about one entity or alert key (`?key=I:IND-…`), for operators
            asking why a rule did or did not fire. Internal port: personal data only as hashes."""
            key = request.query.get("key", "")
            value = worker.store.get(key)
            if isinstance(value, bytes):
                value = decode_state(key, value)
            return web.json({"key": key, "state": orjson.loads(msgspec.json.encode(value))})

    return app, worker


async def ensure_state_topic(settings: Settings, name: str, partitions: int) -> None:
    """The worker's state topic: compacted (the latest value per key is the state), one partition
    per work-topic partition."""
    await create_missing_topics(settings, [new_topic(settings, name, partitions, compacted=True)])


__all__ = ["Worker", "build", "refusal_event", "transition_event"]
