"""The raw broker limit on this machine, now: how fast the broker takes messages (produce, acked,
keyed, in record batches as the platform sends them) and gives them back (consume + JSON decode),
for messages of the size a benchmark sends. A benchmark measures it in the same run, on the same
broker, and prints its own rate as a fraction of it, which carries across machines where events/s
do not (another 2-core machine of the same kind gave half the alerts rate; issue 13).

    python benchmarks/rawlimit.py [--messages 50000] [--size 2000]   # standalone, on the demo's events

In a benchmark:  limit = rawlimit.measure(settings.kafka_bootstrap, payloads); print(limit.of(rate))"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.runtime.kafka import Record, make_producer, send_and_wait
from services.runtime.settings import Settings

PARTITIONS = 6  # as the input topics of the registry


@dataclass(frozen=True)
class RawLimit:
    messages: int
    mean_bytes: int
    produce_per_s: float
    consume_decode_per_s: float

    def __str__(self) -> str:
        return (f"raw broker limit ({self.messages:,} messages of {self.mean_bytes:,} B mean): produce "
                f"{self.produce_per_s:,.0f} msg/s, consume + JSON decode {self.consume_decode_per_s:,.0f} msg/s")

    def of(self, rate: float, what: str = "") -> str:
        """`rate` (events/s) as fractions of both limits; the smaller limit bounds a pipeline that does both."""
        bound = min(self.produce_per_s, self.consume_decode_per_s)
        return (f"{what + ': ' if what else ''}{rate:,.0f}/s = {rate / self.produce_per_s:.1%} of raw produce, "
                f"{rate / self.consume_decode_per_s:.1%} of raw consume+decode, {rate / bound:.1%} of the lower")


def payloads_of(events: Iterable[dict | bytes], limit: int = 5000) -> list[bytes]:
    """Wire bytes of (up to `limit` of) a benchmark's events, to send in the raw measurement."""
    out = []
    for e in events:
        out.append(e if isinstance(e, bytes) else json.dumps(e, ensure_ascii=False, separators=(",", ":")).encode())
        if len(out) >= limit:
            break
    return out


async def measure_async(bootstrap: str, payloads: list[bytes], messages: int = 50_000) -> RawLimit:
    topic = f"rawlimit-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    finally:
        await admin.close()
    records = [Record(topic, payloads[i % len(payloads)], key=str(i % 97).encode()) for i in range(messages)]
    producer = make_producer(Settings(kafka_bootstrap=bootstrap))
    await producer.start()
    try:
        t0 = time.perf_counter()
        for i in range(0, messages, 5000):
            await send_and_wait(producer, records[i:i + 5000])
        produce_s = time.perf_counter() - t0
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                max_partition_fetch_bytes=4 << 20, fetch_max_wait_ms=100)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        read = 0
        t0 = time.perf_counter()
        while read < messages:
            batches = await consumer.getmany(timeout_ms=1000, max_records=20_000)
            for msgs in batches.values():
                for m in msgs:
                    orjson.loads(m.value)
                read += len(msgs)
        consume_s = time.perf_counter() - t0
    finally:
        await consumer.stop()
    return RawLimit(messages, int(statistics.fmean(len(p) for p in payloads)), messages / produce_s,
                    messages / consume_s)


def measure(bootstrap: str, payloads: list[bytes], messages: int = 50_000) -> RawLimit:
    return asyncio.run(measure_async(bootstrap, payloads, messages))


def measure_fresh(payloads: list[bytes], messages: int = 50_000) -> RawLimit:
    """On an embedded broker of its own (for a benchmark that runs without one)."""
    from services.runtime.broker import EmbeddedBroker, free_port

    with EmbeddedBroker(free_port(), log_path=Path(tempfile.mkdtemp(prefix="rawlimit-")) / "broker.log") as broker:
        return measure(broker.bootstrap, payloads, messages)


def main() -> int:
    from services import demo

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--size", type=int, default=2000, help="demo size whose events are the payloads")
    parser.add_argument("--bootstrap", help="an existing broker (default: a fresh embedded one)")
    args = parser.parse_args()
    payloads = payloads_of(demo.iter_events(size=args.size))
    if args.bootstrap:
        print(measure(args.bootstrap, payloads, args.messages))
        return 0
    print(measure_fresh(payloads, args.messages))
    return 0


if __name__ == "__main__":
    sys.exit(main())
