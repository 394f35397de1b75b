"""Kafka helpers: topic creation, an acknowledged producer, a manually committed consumer.

Tansu (the embedded broker) has no idempotent producer and no transactions, so delivery
is at-least-once everywhere and every consumer is idempotent."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from contracts.topics import TOPICS, Family
from services.runtime.settings import Settings

log = logging.getLogger(__name__)


async def ensure_topics(settings: Settings, families: tuple[Family, ...] | None = None) -> list[str]:
    """Create the registry's topics that do not exist yet; returns the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [TOPICS[f] for f in (families or tuple(TOPICS))]
        new = [
            NewTopic(
                spec.name(settings.topic_prefix),
                spec.partitions,
                1,
                topic_configs={"cleanup.policy": "compact"} if spec.compacted else {},
            )
            for spec in wanted
            if spec.name(settings.topic_prefix) not in existing
        ]
        if new:
            try:
                await admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass
        return [t.name for t in new]
    finally:
        await admin.close()


def make_producer(settings: Settings, **overrides: Any) -> AIOKafkaProducer:
    options: dict[str, Any] = dict(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        enable_idempotence=False,
        linger_ms=5,
        request_timeout_ms=10000,
        max_batch_size=1 << 20,
        max_request_size=4 << 20,
    )
    options.update(overrides)
    return AIOKafkaProducer(**options)


def make_consumer(settings: Settings, group_id: str, *topics: str, **overrides: Any) -> AIOKafkaConsumer:
    options: dict[str, Any] = dict(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.session_timeout_ms,
        rebalance_timeout_ms=settings.rebalance_timeout_ms,
        heartbeat_interval_ms=settings.heartbeat_interval_ms,
        max_poll_records=settings.consumer_batch,
    )
    options.update(overrides)
    return AIOKafkaConsumer(*topics, **options)


async def wait_for_broker(bootstrap: str, timeout_s: float = 30.0) -> None:
    """Return once the broker answers a metadata request."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    last: Exception | None = None
    while asyncio.get_running_loop().time() < deadline:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
        try:
            await admin.start()
            await admin.list_topics()
            return
        except (KafkaError, OSError) as exc:
            last = exc
            await asyncio.sleep(0.2)
        finally:
            await admin.close()
    raise TimeoutError(f"Kafka broker {bootstrap} not reachable: {last!r}")


async def send_dead_letter(
    producer: AIOKafkaProducer, settings: Settings, *, source_topic: str, partition: int, offset: int,
    value: bytes | None, reason: str,
) -> None:
    """Park a message no consumer can apply, with the reason; the consumer then moves on."""
    record = {
        "source_topic": source_topic,
        "partition": partition,
        "offset": offset,
        "reason": reason[:2000],
        "value": (value or b"").decode("utf-8", "replace")[:100_000],
    }
    await producer.send_and_wait(
        settings.topic(Family.deadletter), json.dumps(record, ensure_ascii=False).encode(), key=source_topic.encode()
    )
    log.warning("dead-lettered %s[%s]@%s: %s", source_topic, partition, offset, reason[:200])
