"""Publish validated events and return only once the broker acknowledged every one."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from contracts.envelope import Envelope
from services.runtime.audit import AuditSink
from services.runtime.kafka import make_producer
from services.runtime.metrics import INGESTED
from services.runtime.settings import Settings

log = logging.getLogger(__name__)


class BrokerUnavailable(RuntimeError):
    pass


class Publisher:
    """A lazily (re)connected producer: a broker outage becomes `BrokerUnavailable`, and the
    next call reconnects."""

    def __init__(self, settings: Settings, timeout_s: float = 15.0) -> None:
        self.settings = settings
        self.timeout_s = timeout_s
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self.published: Counter[tuple[str, str]] = Counter()  # acknowledged events per (client, family): /v1/streams

    async def _ensure(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = make_producer(self.settings, request_timeout_ms=int(self.timeout_s * 1000 * 0.6))
                try:
                    await asyncio.wait_for(producer.start(), self.timeout_s / 2)
                except (KafkaError, OSError, TimeoutError) as exc:
                    await producer.stop()
                    raise BrokerUnavailable(f"broker {self.settings.kafka_bootstrap} unreachable: {exc!r}") from exc
                self._producer = producer
            return self._producer

    async def producer(self) -> AIOKafkaProducer:
        """The connected producer (for records that are not events: dead letters)."""
        return await self._ensure()

    async def publish(self, events: Sequence[Envelope]) -> None:
        producer = await self._ensure()
        try:
            futures = [
                await producer.send(self.settings.topic(e.family), e.to_json(), key=e.key) for e in events
            ]
            await asyncio.wait_for(asyncio.gather(*futures), self.timeout_s)
        except (KafkaError, OSError, TimeoutError) as exc:
            await self._reset()
            raise BrokerUnavailable(f"broker did not acknowledge: {exc!r}") from exc
        counted = Counter((e.authid, e.family.value) for e in events if e.authid)  # upstream events, not audit
        for (client, family), n in counted.items():
            INGESTED.labels(client, family).inc(n)
        self.published.update(counted)

    async def _reset(self) -> None:
        async with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await asyncio.wait_for(producer.stop(), 5)
            except Exception:
                log.debug("producer stop failed", exc_info=True)

    async def close(self) -> None:
        await self._reset()


class PublisherSink(AuditSink):
    """ingest's audit records go through its publisher (connected lazily, like the events)."""

    def __init__(self, settings: Settings, publisher: Publisher) -> None:
        super().__init__(settings, None, "ingest")
        self.publisher = publisher

    async def emit(self, event: Envelope) -> None:
        try:
            await self.publisher.publish([event])
        except BrokerUnavailable as exc:
            log.error("audit record not sent (%s): %s", exc, event.data)

    async def producer_for_outbox(self) -> AIOKafkaProducer:
        return await self.publisher._ensure()
