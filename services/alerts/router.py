"""Stage 1 of the alerts worker, in a process of its own: the router.

It reads the source topics (reference, indicator, payment, performance, ledger, alert-command)
with aiokafka in batches, evaluates the stateless checks (`routing.route`), and writes one
message per work partition and round to `<prefix>.alerts.work.v1`, where the faust agent
(`app.py`, the parent process) applies it to the partition's state. It also sends the timer
ticks and, in event time, the end-of-input flush.

Why a process of its own: at 3,000 events/s routing takes ~0.35 of a core (parsing and validating
each event, building its facts) and the agent ~0.5; on one event loop they queue behind each
other (measured on the embedded broker, one process: event-to-alert p50 0.45–1.0 s, p99 1.8–4 s
at 3,000 events/s; 0.26 s / 0.55 s at 1,500 events/s), and on two processes each has a core.

The two talk over a pipe: the parent says which work partitions its agent holds, which work
offsets it wrote (forwards, outputs sent again) and which it has processed; the router reports
its counters for the status page. The router dies with the worker (`PR_SET_PDEATHSIG`, and the
pipe's end), and the worker with the router (`app.RouterProcess`)."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import multiprocessing
import os
import re
import signal
import sys
import time
from collections import Counter, defaultdict
from multiprocessing.connection import Connection
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import murmur2
from pydantic import ValidationError

from contracts.control import RuleConfigured
from contracts.envelope import ENVELOPES, Envelope, parse_event
from contracts.ledger import PostingApplied
from contracts.topics import Family
from services.alerts.clock import Progress
from services.alerts.config import AlertsSettings, RuleConfigs
from services.alerts.routing import partitions_of, route, watermark_of
from services.runtime.kafka import (
    Record,
    make_consumer,
    make_producer,
    send_and_wait,
    send_dead_letter,
)
from services.runtime.service import configure_logging, tune_gc
from services.runtime.settings import Settings

log = logging.getLogger(__name__)
SOURCES = (Family.reference, Family.indicator, Family.payment, Family.performance, Family.ledger,
           Family.alert_command)
FORWARD_DEPTH = 3  # fact → derived fact → finding → alert: hops a fact's consequences may take
# The worker's records (work messages, state, alerts) are JSON, ~1.3 KB of facts and ~2.5 KB of
# state per event, and the broker handles every byte twice (in, out). zstd (cramjam, in C) shrinks
# them several times for ~1 ms of CPU per message; measured at 3,000 events/s on the embedded
# broker, which shares the cores: event-to-alert p99 1.23 s → 0.55–0.83 s, backlog 8.9k → 9–10k events/s.
WORKER_COMPRESSION = "zstd"
_TYPE = re.compile(rb'"type"\s*:\s*"([a-z_.]+)"')


def work_topic(settings: Settings) -> str:
    """The internal topic from the router to the agent (and between the agent's partitions)."""
    return f"{settings.topic_prefix}.alerts.work.v1"


def parse_fast(raw: bytes) -> Envelope:
    """`parse_event` without the discriminated-union dispatch (twice as fast): the event type is
    read from the JSON first, then validated by its own envelope model."""
    match = _TYPE.search(raw)
    model = ENVELOPES.get(match.group(1).decode()) if match else None
    if model is None:
        return parse_event(raw)
    return model.model_validate_json(raw)


class ConfigFollower:
    """The rule configuration as the compacted config topic holds it, followed from its beginning:
    all of it at start (then `ready` is set: nothing is routed or evaluated before), then each
    change as it comes — no restart needed.

    Router and agent each follow the topic, in their own processes. The router stamps every work
    message with how far it had read (`position`); the agent applies the message only once it has
    read as far (`wait_for`). A message is thus judged by one configuration in both stages: a
    threshold the router applied and the shadow flag the agent applies come from the same change."""

    def __init__(self, settings: Settings, counters: Counter[str]) -> None:
        self.settings = settings
        self.counters = counters
        self.configs = RuleConfigs()
        self.ready = asyncio.Event()
        self.position: dict[str, int] = {}  # config-topic partition → the next offset to read
        self._moved = asyncio.Event()

    async def follow(self, stopping: asyncio.Event) -> None:
        topic = self.settings.topic(Family.rule_config)
        consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap, enable_auto_commit=False,
                                    auto_offset_reset="earliest", fetch_max_wait_ms=self.settings.fetch_wait_ms)
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
                for tp in tps:
                    self.position[str(tp.partition)] = await consumer.position(tp)
                self._moved.set()
                if not self.ready.is_set() and all(self.position[str(tp.partition)] >= ends[tp] for tp in tps):
                    self.ready.set()
        finally:
            await consumer.stop()

    def reached(self, position: dict[str, int]) -> bool:
        return all(self.position.get(p, 0) >= offset for p, offset in position.items())

    async def wait_for(self, position: dict[str, int]) -> None:
        """Until this follower has read the config topic as far as `position`."""
        while not self.reached(position):
            self._moved.clear()
            await self._moved.wait()


async def retrying(fn, *args) -> None:
    """Publish until the broker takes it: output must not be lost, and the offsets of what made
    it are not committed before this returns."""
    delay = 0.2
    while True:
        try:
            await fn(*args)
            return
        except Exception:
            log.exception("alerts output failed; retrying")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


class Router:
    """Source topics → work topic, paced by the agent."""

    def __init__(self, settings: Settings, alerts: AlertsSettings, app_id: str) -> None:
        self.settings = settings
        self.alerts = alerts
        self.partitions = alerts.partitions
        self.app_id = app_id  # the faust app id: the agent's consumer group
        self.work_topic_name = work_topic(settings)
        self.counters: Counter[str] = Counter()
        self.config = ConfigFollower(settings, self.counters)
        self.configs = self.config.configs
        self.progress = Progress()
        self.ref_caught: dict[str, float] = {}
        self.producer: Any = None  # made on the router's event loop (`run`)
        self.upstream: AIOKafkaConsumer | None = None  # reads the ledger group's committed offsets
        self.agent_progress: AIOKafkaConsumer | None = None  # reads the agent's committed work offsets
        self.drain_target: dict[TopicPartition, int] | None = None  # work-topic offsets the agent must reach
        self.drain_rounds = 0
        self.at_end: dict[TopicPartition, bool] = {}  # source partitions read to their end (last poll)
        self.assigned: set[int] = set()  # work-topic partitions the agent holds
        self.work_sent: dict[int, int] = {}  # per work partition: the last offset the worker wrote
        self.work_done: dict[int, int] = {}  # per work partition: the last offset the agent has processed
        self.agent_moved = asyncio.Event()

    def cfg(self, rule_id: str, year: int | None):
        c = self.configs.get(rule_id, year)
        return c if c.enabled else None

    async def route_sources(self, stopping: asyncio.Event) -> None:
        await self.config.ready.wait()
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
                for p in partitions_of(fact["k"], self.partitions):
                    per[p].append(fact)
        marks = self.progress.drain()
        ref = dict(self.ref_caught)
        messages = []
        for p in range(self.partitions):
            if not per.get(p) and not marks:
                continue
            # "cfg": how far the configuration was read when these facts were judged (`ConfigFollower`)
            message = {"facts": per.get(p, []), "marks": marks, "ref": ref, "wall": now, "cfg": self.config.position}
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
        """Note the work-topic offsets the router has written (rounds, ticks)."""
        for tp, offset in last.items():
            if tp.topic == self.work_topic_name:
                self.sent_to(tp.partition, offset)

    def sent_to(self, p: int, offset: int) -> None:
        """Note a work-topic offset the worker has written (the agent's forwards and outputs too)."""
        if offset > self.work_sent.get(p, -1):
            self.work_sent[p] = offset

    def worked(self, p: int, offset: int) -> None:
        """The agent is done with the message at `offset` of work partition `p`."""
        if offset > self.work_done.get(p, -1):
            self.work_done[p] = offset
        self.agent_moved.set()

    def agent_behind(self) -> bool:
        """Has the agent messages ahead of it that the worker wrote to the partitions it holds?"""
        return any(self.work_done.get(p, -1) < offset for p, offset in self.work_sent.items() if p in self.assigned)

    async def wait_for_agent(self, until: float) -> None:
        """Wait until the agent has worked off what the worker wrote (forwards included), at most
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


    # ------------------------------------------------------------------ the process

    async def run(self, conn: Connection | None = None, stopping: asyncio.Event | None = None) -> None:
        """Route until stopped: by the worker at the pipe's other end ("stop", or the pipe's end).
        Signals are the worker's (a SIGTERM to the process group reaches both): it shuts down in
        order and stops the router on the way."""
        stopping = stopping or asyncio.Event()
        loop = asyncio.get_running_loop()
        if conn is not None:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, lambda: None)
            loop.add_reader(conn.fileno(), self._told, conn, stopping)
        # awaited sends: no linger (see app.py); compressed as the agent's (`WORKER_COMPRESSION`)
        self.producer = make_producer(self.settings, linger_ms=0, compression_type=WORKER_COMPRESSION)
        await self.producer.start()
        tasks = [asyncio.create_task(c) for c in (
            self.config.follow(stopping),
            self.route_sources(stopping), self._ticks(stopping))]
        if conn is not None:
            tasks.append(asyncio.create_task(self._report(conn, stopping)))
        try:
            done, _ = await asyncio.wait([asyncio.create_task(stopping.wait()), *tasks],
                                         return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task in tasks and task.exception() is not None:
                    raise task.exception()
        finally:
            stopping.set()  # every loop ends at its next turn and closes its consumer
            _, late = await asyncio.wait(tasks, timeout=5)
            for task in late:
                log.info("router task did not stop in time: %s", task.get_coro())
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for client in (self.upstream, self.agent_progress, self.producer):
                if client is not None:
                    with contextlib.suppress(Exception):
                        await client.stop()

    async def _ticks(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            await asyncio.sleep(self.alerts.tick_s)
            if self.config.ready.is_set():
                await retrying(self.tick)

    async def _report(self, conn: Connection, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            with contextlib.suppress(OSError):
                conn.send(("counters", dict(self.counters)))
            await asyncio.sleep(0.25)

    def _told(self, conn: Connection, stopping: asyncio.Event) -> None:
        """What the worker says: ("assigned", [p…]), ("sent", {p: offset}), ("done", p, offset), ("stop",)."""
        try:
            while conn.poll():
                kind, *args = conn.recv()
                if kind == "done":
                    self.worked(*args)
                elif kind == "sent":
                    for p, offset in args[0].items():
                        self.sent_to(int(p), offset)
                elif kind == "assigned":
                    self.assigned = set(args[0])
                    self.agent_moved.set()
                elif kind == "stop":
                    stopping.set()
        except (EOFError, OSError):  # the worker is gone: so is its router
            asyncio.get_running_loop().remove_reader(conn.fileno())
            stopping.set()


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when the worker that started it dies (kill -9 included)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def main(settings: Settings, alerts: AlertsSettings, app_id: str, conn: Connection) -> None:
    """The router process (started by `RouterProcess`)."""
    _die_with_parent()
    configure_logging(os.environ.get("FUNDWATCH_LOG_LEVEL", "INFO"))
    tune_gc()
    asyncio.run(Router(settings, alerts, app_id).run(conn))


class RouterProcess:
    """The worker's handle on its router process."""

    def __init__(self, settings: Settings, alerts: AlertsSettings, app_id: str) -> None:
        context = multiprocessing.get_context("spawn")  # not fork: the worker runs threads (faust's consumer)
        self.conn, child = context.Pipe()
        self.process = context.Process(target=main, args=(settings, alerts, app_id, child),
                                       name="alerts-router", daemon=True)
        self._child = child
        self.counters: dict[str, int] = {}
        self.stopping = False

    def start(self) -> None:
        self.process.start()
        self._child.close()
        asyncio.get_running_loop().add_reader(self.conn.fileno(), self._readable)

    def _readable(self) -> None:
        try:
            while self.conn.poll():
                kind, value = self.conn.recv()
                if kind == "counters":
                    self.counters = value
        except (EOFError, OSError):
            asyncio.get_running_loop().remove_reader(self.conn.fileno())
            if self.stopping:
                return
            # no router, no input: a worker must not sit there looking healthy. Exit as a crash
            # does (the supervisor or the orchestrator starts it again; the state is safe for that)
            self.process.join(1)
            log.critical("the alerts router process exited (%s); the worker stops", self.process.exitcode)
            logging.shutdown()
            os._exit(70)

    def tell(self, *message: Any) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(message)

    async def stop(self) -> None:
        """Stop the router (it leaves its consumer group) and wait for it."""
        self.stopping = True
        self.tell("stop")
        await asyncio.to_thread(self.process.join, 10)
        if self.process.is_alive():
            self.process.kill()
