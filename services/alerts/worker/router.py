"""Stage 1 of the alerts worker, in a process of its own: the router.

It reads the input topics (reference, indicator, payment, performance), the ledger's derived
stream and the dispositions with aiokafka in batches, turns each event into facts (`rounds.Rounds`,
`ingress.facts_of`), and writes one message per work partition and round to
`<prefix>.alerts.work.v1`, where the faust agent (`app.py`, the parent process) applies it to the
partition's state. Every message says how far each input partition has been read, which is the
platform's time (watermarks.py); the timer sends that report again every `tick_s`, so time moves
on when nothing arrives (a quiet partition stops holding its family back; a quiet input has ended).

Why a process of its own: at 3,000 events/s routing takes ~0.35 of a core (parsing and validating
each event, building its facts) and the agent ~0.5; on one event loop they queue behind each other,
on two processes each has a core.

The two talk over a pipe: the parent says which work partitions its agent holds, which work
offsets it wrote (forwards, outputs sent again) and which it has processed; the router reports its
counters for the status page. The router dies with the worker (`PR_SET_PDEATHSIG`, and the pipe's
end), and the worker with the router (`RouterProcess`)."""

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
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from contracts.control import RuleConfigured
from contracts.envelope import ENVELOPES, Envelope, parse_event
from contracts.topics import Family
from services.alerts import facts as f
from services.alerts.config import AlertsSettings, RuleConfigs
from services.alerts.rounds import Rounds
from services.alerts.rules.registry import Rules
from services.runtime.kafka import Record, make_consumer, make_producer, send_and_wait, send_dead_letter
from services.runtime.logwatch import LogWatch
from services.runtime.service import configure_logging, tune_gc
from services.runtime.settings import Settings

log = logging.getLogger(__name__)
INPUT = (Family.reference, Family.indicator, Family.payment, Family.performance)
SOURCES = (*INPUT, Family.ledger, Family.alert_command)
# The worker's records (work messages, state) are msgpack, ~1 KB of facts and ~2 KB of state per
# event, and the broker handles every byte twice (in, out). zstd (cramjam, in C) shrinks them several
# times for ~1 ms of CPU per message (measured at 3,000 events/s on the embedded broker, which shares
# the cores: event-to-alert p99 1.23 s → 0.55–0.83 s). The public alert topic is not compressed, so
# that any stock consumer reads it.
WORKER_COMPRESSION = "zstd"
_TYPE = re.compile(rb'"type"\s*:\s*"([a-z_.]+)"')
_FROM_LOG = {"pii_key": None, "from_log": True}  # the platform's own log: its text was checked when it came in


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
    return model.model_validate_json(raw, context=_FROM_LOG)


class ConfigFollower:
    """The rule configuration as the compacted config topic holds it, followed from its beginning:
    all of it at start (then `ready` is set: nothing is routed or evaluated before), then each
    change as it comes — no restart needed.

    Router and agent each follow the topic, in their own processes. The router stamps every work
    message with how far it had read (`position`); the agent applies the message only once it has
    read as far (`wait_for`). A message is thus judged by one configuration in both stages."""

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


LOG_MOVED = 75  # the router's exit code when the log moved: the worker starts over in place


class LogMoved(Exception):
    """The log is not the one the worker's state was built from (another cluster id, a position
    beyond the end): the worker starts over from what the log holds (`RouterProcess`)."""


async def retrying(fn, *args, **kwargs) -> None:
    """Publish until the broker takes it: output must not be lost, and the offsets of what made
    it are not committed before this returns."""
    delay = 0.2
    while True:
        try:
            await fn(*args, **kwargs)
            return
        except LogMoved:
            raise
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
        self.app_id = app_id
        self.work_topic_name = work_topic(settings)
        self.counters: Counter[str] = Counter()
        self.config = ConfigFollower(settings, self.counters)
        self.rounds = Rounds(Rules(self.config.configs), self.partitions,
                             {settings.topic(fam): fam.value for fam in INPUT})
        self.producer: Any = None  # made on the router's event loop (`run`)
        self.assigned: set[int] = set()  # work-topic partitions the agent holds
        self.work_sent: dict[int, int] = {}  # per work partition: the last offset the worker wrote
        self.work_done: dict[int, int] = {}  # per work partition: the last offset the agent has processed
        self.agent_moved = asyncio.Event()
        self.lock = asyncio.Lock()  # a round and a tick do not interleave their progress reports
        self.watch = LogWatch(settings)  # has the log moved under the worker's state?
        self._checked_at = 0.0
        self._held: set[TopicPartition] = set()

    async def same_log(self, consumer: Any = None, batches: dict | None = None) -> bool:
        """Is the log still the one the worker's state was built from? Asked before a round is
        routed and before a tick: the state recognises repeats by offset, which a reset log reuses.
        Every 2 s (and with `consumer`) also whether a position lies beyond a partition's end. A
        broker that does not answer: the round's records are read again later (False, nothing moved)."""
        cluster = await self.watch.cluster()
        if cluster is None:
            if consumer is not None:
                for tp, records in (batches or {}).items():
                    consumer.seek(tp, records[0].offset)
            return False
        moved: list[tuple[TopicPartition, str]] = []
        if self.watch.cluster_id is not None and cluster != self.watch.cluster_id:
            moved = [(TopicPartition("*", -1), f"cluster id {self.watch.cluster_id} → {cluster}")]
        elif consumer is not None and (time.monotonic() - self._checked_at >= 2.0 or consumer.assignment() != self._held):
            self._checked_at, self._held = time.monotonic(), set(consumer.assignment())
            positions: dict[tuple[str, int], int | None] = {}
            for tp in self._held:
                try:
                    positions[(tp.topic, tp.partition)] = await consumer.position(tp)
                except Exception:
                    positions[(tp.topic, tp.partition)] = None
            moved = await self.watch.moved(consumer, sorted(self._held), positions)
        else:
            self.watch.cluster_id = cluster
        if moved:
            raise LogMoved("; ".join(f"{tp.topic}[{tp.partition}]: {why}" if tp.partition >= 0 else why
                                     for tp, why in moved[:5]))
        return True

    async def route_sources(self, stopping: asyncio.Event) -> None:
        await self.config.ready.wait()
        topics = [self.settings.topic(fam) for fam in SOURCES]
        consumer = make_consumer(self.settings, f"{self.settings.topic_prefix}.alerts-router", *topics,
                                 max_poll_records=self.alerts.router_batch)
        await consumer.start()
        try:
            while not stopping.is_set():
                batches = await consumer.getmany(timeout_ms=100, max_records=self.alerts.router_batch)
                if not await self.same_log(consumer, batches):
                    await asyncio.sleep(0.5)
                    continue
                async with self.lock:
                    for tp in consumer.assignment():
                        self.rounds.know(tp.topic, tp.partition)
                        # read to its end: the position reached the end offset and the round brought nothing
                        # for it (the embedded broker reports the end as the last batch's base offset + 1,
                        # so a position past it may still have the rest of that batch ahead)
                        high = consumer.highwater(tp)
                        family = self.rounds.family_of_topic.get(tp.topic)
                        if family is not None:
                            at_end = tp not in batches and high is not None and await consumer.position(tp) >= high
                            self.rounds.caught_up(f"{family}:{tp.partition}", at_end)
                    records = [r for rs in batches.values() for r in rs]
                    if not records:
                        continue
                    await self._route(records)
                try:
                    await consumer.commit()
                except Exception:
                    await self.same_log()  # a broker that came back as another: LogMoved, else the error itself
                    raise
                if len(records) < self.alerts.router_batch:
                    # not a full round: let records gather while the agent works off this one (group commit)
                    await self.wait_for_agent(time.time() + self.alerts.router_linger_s)
        finally:
            try:
                await consumer.stop()
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
                # aiokafka's fetcher can let its own cancellation out of stop(): the error being handled
                # (LogMoved: the worker restarts) must stay the one that ends this task

    async def _route(self, records: list) -> None:
        now = time.time()
        for record in records:
            try:
                event = parse_fast(record.value)
            except (ValidationError, ValueError) as exc:
                self.counters["dead_lettered"] += 1
                await send_dead_letter(self.producer, self.settings, source_topic=record.topic,
                                       partition=record.partition, offset=record.offset, value=record.value,
                                       reason=f"alerts router: invalid event: {exc}")
                continue
            self.rounds.add(record.topic, record.partition, record.offset, event, now)
        for refused in self.rounds.refused:
            self.counters["dead_lettered"] += 1
            await send_dead_letter(self.producer, self.settings, source_topic=refused.topic,
                                   partition=refused.partition, offset=refused.offset,
                                   value=next((r.value for r in records if r.topic == refused.topic
                                               and r.partition == refused.partition and r.offset == refused.offset),
                                              None),
                                   reason=f"alerts router: {refused.reason}")
        self.rounds.refused.clear()
        self.counters["events"] = self.rounds.events
        await self._send(self.rounds.messages(now, self.config.position))

    async def _send(self, messages: dict[int, f.Work]) -> None:
        records = []
        for p, work in messages.items():
            records.append(Record(self.work_topic_name, f.encode(work), partition=p))
            self.counters["facts"] += len(work.facts)
        self.sent(await send_and_wait(self.producer, records))

    async def tick(self) -> None:
        """Timers: the progress report again (time moves when nothing arrives: wall time, idle partitions)."""
        if not await self.same_log():
            return
        async with self.lock:
            await self._send(self.rounds.messages(time.time(), None, tick=True))

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
        until `until` (wall time): rounds are as large as the agent's pace needs — small and quick
        while it keeps up, larger (cheaper per event) while it trails (group commit). Partitions
        another worker holds are not waited for."""
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
        self.producer = make_producer(self.settings, linger_ms=0, compression_type=WORKER_COMPRESSION)
        await self.producer.start()
        tasks = [asyncio.create_task(c) for c in (
            self.config.follow(stopping), self.route_sources(stopping), self._ticks(stopping))]
        if conn is not None:
            tasks.append(asyncio.create_task(self._report(conn, stopping)))
        try:
            done, _ = await asyncio.wait([asyncio.create_task(stopping.wait()), *tasks],
                                         return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task in tasks and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            stopping.set()  # every loop ends at its next turn and closes its consumer
            _, late = await asyncio.wait(tasks, timeout=5)
            for task in late:
                log.info("router task did not stop in time: %s", task.get_coro())
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self.producer.stop()
            await self.watch.close()

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
    configure_logging(os.environ.get("FUNDWATCH_LOG_LEVEL", "INFO"), service="alerts-worker")
    tune_gc()
    try:
        asyncio.run(Router(settings, alerts, app_id).run(conn))
    except LogMoved as exc:
        log.warning("log moved under the alerts worker (%s): it starts over from what the log holds; "
                    "nothing was routed from the moved log", exc)
        logging.shutdown()
        os._exit(LOG_MOVED)


def restart_in_place() -> None:
    """The log moved: this worker's state (and its offsets' meaning) belong to the old log. It
    starts again, same process, same command: the state is read back from the state topic (what the
    new log holds: restored, or nothing), the router resumes from the group's offsets there (restored
    by the archive, or none: the beginning), so every event the new log holds is judged once."""
    log.warning("the alerts worker starts over on the moved log (same pid)")
    logging.shutdown()
    with contextlib.suppress(OSError):
        os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
    os._exit(LOG_MOVED)  # could not: exit as a crash does, the supervisor starts it again


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
            if self.process.exitcode == LOG_MOVED:
                restart_in_place()
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
