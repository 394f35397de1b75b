"""The archive: segment files that survive a torn write, and a backup restored into an empty broker
with every record at its offset."""

from __future__ import annotations

import asyncio
import json

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


async def _committed(bootstrap: str, group: str, topic: str, partitions: int = 2) -> dict[tuple[str, int], int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        found = {(topic, p): await consumer.committed(TopicPartition(topic, p)) for p in range(partitions)}
    finally:
        await consumer.stop()
    return {k: v for k, v in found.items() if v is not None}


@pytest.mark.integration
def test_consumer_group_offsets_are_backed_up_and_restored(make_settings, sqlite_url, tmp_path):
    """A group that keeps its offsets in the broker (the alerts router, the agent) resumes after a
    restore where it was, not from the beginning."""
    settings = make_settings(sqlite_url)
    topic, group = settings.topic("payment"), f"{settings.topic_prefix}.alerts-router"

    async def fill_and_consume() -> dict[tuple[str, int], int]:
        await ensure_topics(settings)
        producer = make_producer(settings)
        await producer.start()
        try:
            await send_and_wait(producer, [Record(topic, f"v{i}".encode(), partition=i % 2) for i in range(20)])
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=group,
                                    enable_auto_commit=False)
        await consumer.start()
        try:
            tps = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
            consumer.assign(tps)
            await consumer.commit({tps[0]: 4, tps[1]: 10})  # partway, and at the end
        finally:
            await consumer.stop()
        return await _committed(settings.kafka_bootstrap, group, topic)

    committed = asyncio.run(fill_and_consume())
    assert committed == {(topic, 0): 4, (topic, 1): 10}
    asyncio.run(archive.backup(settings, tmp_path / "a"))
    saved = json.loads((tmp_path / "a" / "groups.json").read_text())
    assert saved[group] == {topic: {"0": 4, "1": 10}}

    fresh = EmbeddedBroker(free_port(), log_path=tmp_path / "tansu.log").start()
    try:
        other = settings.model_copy(update={"kafka_bootstrap": fresh.bootstrap})
        asyncio.run(archive.restore(other, tmp_path / "a"))
        assert asyncio.run(_committed(fresh.bootstrap, group, topic)) == committed  # same offsets on an empty broker
    finally:
        fresh.stop()


@pytest.mark.integration
def test_restored_group_offsets_follow_records_that_moved(make_settings, sqlite_url, tmp_path):
    """An archive of a compacted log has gaps; restored, its records are dense, and a group's
    offset is translated to the same place (the next record it had not read)."""
    settings = make_settings(sqlite_url)
    topic, group = f"{settings.topic_prefix}.compacted-check", f"{settings.topic_prefix}.reader"
    root = tmp_path / "a"
    (root / topic).mkdir(parents=True)
    (root / topic / "topic.json").write_text(json.dumps({"partitions": 1, "configs": {}}))
    w = archive.PartitionWriter(root / topic / "0")
    for offset in (0, 5, 9, 12):  # what compaction left
        w.append(offset, 1000 + offset, b"k%d" % offset, b"v%d" % offset, [])
    w.close()
    (root / "groups.json").write_text(json.dumps({group: {topic: {"0": 7}},  # after 5, before 9
                                                  f"{group}-done": {topic: {"0": 13}}}))  # read it all
    written = asyncio.run(archive.restore(settings, root))
    assert written[topic] == 4
    got = asyncio.run(_read_all(settings.kafka_bootstrap, TopicPartition(topic, 0)))
    assert [(o, v) for o, _, v in got] == [(0, b"v0"), (1, b"v5"), (2, b"v9"), (3, b"v12")]
    assert asyncio.run(_committed(settings.kafka_bootstrap, group, topic, 1)) == {(topic, 0): 2}  # → v9, as before
    assert asyncio.run(_committed(settings.kafka_bootstrap, f"{group}-done", topic, 1)) == {(topic, 0): 4}
