"""The archive: segment files that survive a torn write, and a backup restored into an empty broker
with every record at its offset."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.runtime import archive
from services.runtime.broker import EmbeddedBroker, free_port
from services.runtime.kafka import Record, ensure_topics, make_producer, send_and_wait


def test_a_torn_last_record_is_cut_off_and_writing_goes_on(tmp_path):
    w = archive.PartitionWriter(tmp_path / "p0")
    for i in range(3):
        w.append(i, 1000 + i, b"k", f"v{i}".encode(), [("h", b"x")])
    w.close()
    seg = next((tmp_path / "p0").glob("*.seg"))
    with open(seg, "ab") as fh:
        fh.write(b"\x00\x00\x01\x00half a record")  # a crash in the middle of a write
    w = archive.PartitionWriter(tmp_path / "p0")
    assert w.next_offset == 3
    w.append(3, 1003, None, b"v3", [])
    w.close()
    records = list(archive.read_partition(tmp_path / "p0"))
    assert [(r.offset, r.key, r.value) for r in records] == [(0, b"k", b"v0"), (1, b"k", b"v1"), (2, b"k", b"v2"),
                                                             (3, None, b"v3")]
    assert records[0].headers == [("h", b"x")] and records[2].timestamp == 1002


async def _read_all(bootstrap: str, tp: TopicPartition) -> list[tuple[int, bytes | None, bytes | None]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        out = []
        while True:
            batch = await consumer.getmany(tp, timeout_ms=1500)
            if not batch:
                return out
            out += [(r.offset, r.key, r.value) for r in batch[tp]]
    finally:
        await consumer.stop()


@pytest.mark.integration
def test_backup_restored_into_an_empty_broker_keeps_every_offset(make_settings, sqlite_url, tmp_path):
    settings = make_settings(sqlite_url)
    topic = settings.topic("payment")

    async def fill() -> None:
        await ensure_topics(settings)
        producer = make_producer(settings)
        await producer.start()
        try:
            for round_ in range(3):  # several record batches per partition
                await send_and_wait(producer, [Record(topic, f"r{round_}-{i}".encode(), key=f"41032{i % 4}".encode())
                                               for i in range(40)])
        finally:
            await producer.stop()

    asyncio.run(fill())
    assert asyncio.run(archive.backup(settings, tmp_path / "a")) >= 120
    tps = [TopicPartition(topic, p) for p in range(6)]
    before = {tp: asyncio.run(_read_all(settings.kafka_bootstrap, tp)) for tp in tps}
    assert sum(len(v) for v in before.values()) == 120

    fresh = EmbeddedBroker(free_port(), log_path=tmp_path / "tansu.log").start()
    try:
        other = settings.model_copy(update={"kafka_bootstrap": fresh.bootstrap})
        written = asyncio.run(archive.restore(other, tmp_path / "a"))
        assert written[topic] == 120
        after = {tp: asyncio.run(_read_all(fresh.bootstrap, tp)) for tp in tps}
        assert after == before
        assert asyncio.run(archive.restore(other, tmp_path / "a")) == {}  # nothing twice into a non-empty log
        # the archiver picks up where the archive ends: nothing new, nothing written again
        assert asyncio.run(archive.backup(other, tmp_path / "a")) == 0
    finally:
        fresh.stop()
