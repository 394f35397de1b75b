"""The log kept outside the broker: every record of the platform's topics copied, in offset order,
to segment files, and written back into an empty broker.

The embedded broker keeps its log in memory, so `fundwatch up` runs the archiver as a child
(`fundwatch log backup var/archive --follow`) and restores var/archive into the fresh broker
before anything else connects: the records come back at the offsets they had, so the stored
positions of every projection (in the database, which is kept too) stay valid. With Apache Kafka
the same commands are a backup and a restore (`fundwatch log backup DIR` copies up to the current
end and exits).

Layout: DIR/<topic>/topic.json ({"partitions": n, "configs": {...}}) and
DIR/<topic>/<partition>/<first offset, 20 digits>.seg; a segment is a run of records, each a
4-byte big-endian length and a msgpack array [offset, timestamp ms, key, value, headers]. A torn
last record (a crash mid-write) is cut off when the archiver opens the segment again. Segments
roll at `SEGMENT_BYTES`; each round of writes is flushed and fsynced before the next fetch.

Consumer-group offsets (the broker's own: the alerts router's and agent's, and the projections' copy
for lag tooling) are kept in DIR/groups.json, read before the records they point at are copied (never
ahead of the archive); a restore commits them translated to the restored log's offsets, so a group
resumes where it was instead of reading everything again. The projections' own positions are in the
database and stay authoritative."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from contracts.topics import TOPICS
from services.runtime.kafka import make_producer, new_topic, wait_for_broker
from services.runtime.settings import Settings

log = logging.getLogger(__name__)

SEGMENT_BYTES = 64 << 20
_LEN = struct.Struct(">I")
_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder().decode


@dataclass
class Archived:
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


def topic_configs(settings: Settings, topic: str) -> dict[str, str]:
    """The registry's settings for one of its topics (others: none)."""
    for spec in TOPICS.values():
        if spec.name(settings.topic_prefix) == topic:
            return {"cleanup.policy": "compact"} if spec.compacted else {}
    return {}


def _segments(part_dir: Path) -> list[Path]:
    return sorted(part_dir.glob("*.seg"))


def read_segment(path: Path) -> Iterator[Archived]:
    """The whole records of one segment (a torn tail is left unread)."""
    data = path.read_bytes()
    pos = 0
    while pos + 4 <= len(data):
        (size,) = _LEN.unpack_from(data, pos)
        if pos + 4 + size > len(data):
            break
        offset, ts, key, value, headers = _decode(data[pos + 4:pos + 4 + size])
        yield Archived(offset, ts, key, value, [tuple(h) for h in headers])
        pos += 4 + size


def _whole_length(path: Path) -> tuple[int, int | None]:
    """Bytes of whole records in `path` and the last offset among them."""
    data = path.read_bytes()
    pos, last = 0, None
    while pos + 4 <= len(data):
        (size,) = _LEN.unpack_from(data, pos)
        if pos + 4 + size > len(data):
            break
        last = _decode(data[pos + 4:pos + 4 + size])[0]
        pos += 4 + size
    return pos, last


def read_partition(part_dir: Path) -> Iterator[Archived]:
    for seg in _segments(part_dir):
        yield from read_segment(seg)


class PartitionWriter:
    """Appends to the archive of one partition; `next_offset` is where it goes on."""

    def __init__(self, part_dir: Path) -> None:
        self.dir = part_dir
        part_dir.mkdir(parents=True, exist_ok=True)
        self.next_offset = 0
        self.fh = None
        self.size = 0
        segs = _segments(part_dir)
        if segs:
            last = segs[-1]
            whole, last_offset = _whole_length(last)
            if whole < last.stat().st_size:  # a torn record from a crash: cut it off
                with open(last, "r+b") as fh:
                    fh.truncate(whole)
            if last_offset is None:
                for seg in reversed(segs[:-1]):
                    last_offset = _whole_length(seg)[1]
                    if last_offset is not None:
                        break
            self.next_offset = (last_offset + 1) if last_offset is not None else int(last.stem)
            self.fh = open(last, "ab")  # noqa: SIM115 - closed in close()
            self.size = whole

    def append(self, offset: int, timestamp: int, key: bytes | None, value: bytes | None,
               headers: list[tuple[str, bytes]]) -> None:
        if self.fh is None or self.size >= SEGMENT_BYTES:
            self.close()
            self.fh = open(self.dir / f"{offset:020d}.seg", "ab")  # noqa: SIM115
            self.size = 0
        body = _encode([offset, timestamp, key, value, [list(h) for h in headers]])
        self.fh.write(_LEN.pack(len(body)) + body)
        self.size += 4 + len(body)
        self.next_offset = offset + 1

    def sync(self) -> None:
        if self.fh is not None:
            self.fh.flush()
            os.fsync(self.fh.fileno())

    def close(self) -> None:
        if self.fh is not None:
            self.sync()
            self.fh.close()
            self.fh = None


def archived_ends(root: Path) -> dict[TopicPartition, int]:
    """Next offset to archive per partition found under `root`."""
    ends = {}
    for topic_dir in sorted(p for p in root.iterdir() if p.is_dir()) if root.exists() else []:
        for part_dir in sorted(p for p in topic_dir.iterdir() if p.is_dir()):
            w = PartitionWriter(part_dir)
            ends[TopicPartition(topic_dir.name, int(part_dir.name))] = w.next_offset
            w.close()
    return ends


async def _platform_topics(admin: AIOKafkaAdminClient, prefix: str) -> dict[str, int]:
    names = [t for t in await admin.list_topics() if t.startswith(prefix + ".")]
    if not names:
        return {}
    described = await admin.describe_topics(names)
    return {d["topic"]: len(d["partitions"]) for d in described if not d.get("error_code")}


GROUPS_FILE = "groups.json"


async def _committed(settings: Settings, group: str, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
    """A group's committed offsets on `tps` (through a consumer: Tansu answers the admin client's
    OffsetFetch in a version aiokafka cannot read)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        found = {tp: await consumer.committed(tp) for tp in tps}
    finally:
        await consumer.stop()
    return {tp: offset for tp, offset in found.items() if offset is not None and offset >= 0}


async def _group_offsets(settings: Settings, admin: AIOKafkaAdminClient,
                         tps: list[TopicPartition]) -> dict[str, dict[str, dict[str, int]]]:
    """The committed offsets of the platform's consumer groups (ids starting with the prefix) on its topics."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for group, *_ in await admin.list_consumer_groups():
        if not str(group).startswith(settings.topic_prefix):
            continue
        try:
            offsets = await _committed(settings, str(group), tps)
        except Exception as exc:  # a group being rebalanced: its offsets next round
            log.debug("offsets of %s: %r", group, exc)
            continue
        for tp, offset in offsets.items():
            out.setdefault(str(group), {}).setdefault(tp.topic, {})[str(tp.partition)] = offset
    return out


def _write_groups(root: Path, groups: dict[str, dict[str, dict[str, int]]],
                  writers: dict[TopicPartition, PartitionWriter]) -> None:
    """DIR/groups.json, atomically; each offset no further than the archive holds (a restore never
    puts a group past a record it does not restore: it reads a little again, never skips)."""
    kept: dict[str, dict[str, dict[str, int]]] = {}
    for group, topics in groups.items():
        for topic, parts in topics.items():
            for p, offset in parts.items():
                w = writers.get(TopicPartition(topic, int(p)))
                if w is not None:
                    kept.setdefault(group, {}).setdefault(topic, {})[p] = min(offset, w.next_offset)
    tmp = root / (GROUPS_FILE + ".tmp")
    tmp.write_text(json.dumps(kept, sort_keys=True))
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, root / GROUPS_FILE)


async def backup(settings: Settings, root: Path, *, follow: bool = False, stop: asyncio.Event | None = None,
                 idle_s: float = 1.0) -> int:
    """Copy every platform topic (prefix `settings.topic_prefix`) from where the archive ends.
    Without `follow`: up to the ends seen at the start, then return. With `follow`: until `stop`,
    then on to the current ends. Returns the records written."""
    stop = stop or asyncio.Event()
    root.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - local files, written between fetches
    await wait_for_broker(settings.kafka_bootstrap, timeout_s=60)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest", max_partition_fetch_bytes=4 << 20,
                                fetch_max_wait_ms=200)
    await consumer.start()
    writers: dict[TopicPartition, PartitionWriter] = {}
    written = 0

    async def refresh() -> None:
        topics = await _platform_topics(admin, settings.topic_prefix)
        new = False
        for topic, partitions in topics.items():
            topic_dir = root / topic
            topic_dir.mkdir(exist_ok=True)
            meta = {"partitions": partitions, "configs": topic_configs(settings, topic)}
            if not (topic_dir / "topic.json").exists() or json.loads((topic_dir / "topic.json").read_text()) != meta:
                (topic_dir / "topic.json").write_text(json.dumps(meta))
            for p in range(partitions):
                tp = TopicPartition(topic, p)
                if tp not in writers:
                    writers[tp] = PartitionWriter(topic_dir / str(p))
                    new = True
        if new:
            consumer.assign(list(writers))
            for tp, w in writers.items():
                consumer.seek(tp, w.next_offset)

    groups: dict[str, dict[str, dict[str, int]]] = {}

    async def read_groups() -> None:
        nonlocal groups
        try:  # read before the records they point at are copied: never ahead of the archive
            groups = await _group_offsets(settings, admin, list(writers))
        except Exception as exc:
            log.warning("backup: consumer-group offsets not read this round: %r", exc)

    try:
        await refresh()
        await read_groups()
        targets = await consumer.end_offsets(list(writers)) if (writers and not follow) else {}
        last_refresh = asyncio.get_running_loop().time()
        draining = False
        while True:
            if follow and stop.is_set() and not draining:
                draining = True
                await read_groups()
                targets = await consumer.end_offsets(list(writers)) if writers else {}
            batches = await consumer.getmany(timeout_ms=int(idle_s * 1000), max_records=20_000)
            for tp, records in batches.items():
                w = writers[tp]
                for r in records:
                    if r.offset < w.next_offset:
                        continue
                    w.append(r.offset, r.timestamp, r.key, r.value, [(k, v) for k, v in (r.headers or ())])
                    written += 1
            for tp in batches:
                writers[tp].sync()
            if groups:
                _write_groups(root, groups, writers)
                groups = {}
            # done once past the ends and a round came back empty (Tansu reports a batch's first offset + 1)
            if (not follow or draining) and not batches and all(
                    writers[tp].next_offset >= end for tp, end in targets.items()):
                break
            now = asyncio.get_running_loop().time()
            if follow and not draining and now - last_refresh > 5:
                last_refresh = now
                await refresh()
                await read_groups()
        if groups:
            _write_groups(root, groups, writers)
    finally:
        for w in writers.values():
            w.close()
        await consumer.stop()
        await admin.close()
    return written


async def restore(settings: Settings, root: Path) -> dict[str, int]:
    """Write the archive back into the broker: each topic created with its archived partitions and
    configs, each empty partition given its records in order (at their archived offsets, on an empty
    broker). A partition that already holds records is left alone (its end is reported). Returns
    records written per topic."""
    if not root.exists():  # noqa: ASYNC240 - local files, read before any client connects
        return {}
    await wait_for_broker(settings.kafka_bootstrap, timeout_s=60)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    producer = make_producer(settings, linger_ms=0)
    await producer.start()
    probe = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    await probe.start()
    written: dict[str, int] = {}
    try:
        existing = set(await admin.list_topics())
        topic_dirs = sorted(p for p in root.iterdir()  # noqa: ASYNC240 - local files
                            if p.is_dir() and (p / "topic.json").exists())
        new = []
        for topic_dir in topic_dirs:
            meta = json.loads((topic_dir / "topic.json").read_text())
            if topic_dir.name not in existing:
                new.append(new_topic(settings, topic_dir.name, meta["partitions"], configs=meta.get("configs") or {}))
        if new:
            await admin.create_topics(new)
        created = {t.name for t in new}  # empty as made, whatever a client wrote since
        groups = json.loads((root / GROUPS_FILE).read_text()) if (root / GROUPS_FILE).exists() else {}
        wanted: dict[TopicPartition, set[int]] = {}
        for parts_of in groups.values():
            for topic, parts in parts_of.items():
                for p, offset in parts.items():
                    wanted.setdefault(TopicPartition(topic, int(p)), set()).add(offset)
        moved: dict[TopicPartition, dict[int, int]] = {}  # archived committed offset → the restored log's
        for topic_dir in topic_dirs:
            parts = sorted(int(p.name) for p in topic_dir.iterdir() if p.is_dir())
            tps = [TopicPartition(topic_dir.name, p) for p in parts]
            ends = await probe.end_offsets(tps) if tps else {}
            for tp in tps:
                if tp.topic not in created and ends.get(tp, 0) > 0:
                    log.warning("restore: %s is not empty (end offset %d); left alone", tp, ends[tp])
                    continue
                count, moved[tp] = await _restore_partition(producer, tp, root / tp.topic / str(tp.partition),
                                                            wanted.get(tp, set()))
                if count:
                    written[tp.topic] = written.get(tp.topic, 0) + count
        if groups:
            await _restore_groups(settings, groups, moved)
    finally:
        await probe.stop()
        await producer.stop()
        await admin.close()
    return written


async def _restore_groups(settings: Settings, groups: dict[str, dict[str, dict[str, int]]],
                          moved: dict[TopicPartition, dict[int, int]]) -> None:
    """Commit each archived group's offsets, translated to the restored log (`moved`), on the
    partitions restored here; a group that already has offsets in this cluster is left alone."""
    from aiokafka.structs import OffsetAndMetadata

    for group, topics in sorted(groups.items()):
        offsets = {tp: OffsetAndMetadata(moved[tp][offset], "") for topic, parts in topics.items()
                   for p, offset in parts.items() if (tp := TopicPartition(topic, int(p))) in moved}
        if not offsets:
            continue
        if await _committed(settings, group, list(offsets)):
            log.warning("restore: group %s already has offsets here; left alone", group)
            continue
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=group,
                                    enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign(list(offsets))
            await consumer.commit(offsets)
        finally:
            await consumer.stop()
        log.info("restore: offsets of group %s on %d partitions", group, len(offsets))


async def _restore_partition(producer, tp: TopicPartition, part_dir: Path,
                             wanted: set[int] | None = None) -> tuple[int, dict[int, int]]:
    """Send one partition's records in order, as record batches; warns when the offsets moved.
    Returns the records sent and, for each archived offset in `wanted` (a group's next offset to
    read), the offset of the same place in the restored log."""
    count, archived_last, last_written = 0, -1, -1
    pending_wanted = sorted(wanted or ())
    index_of: dict[int, int] = {}  # archived offset → records restored before it
    batch = producer.create_batch()
    pending: list[tuple[asyncio.Future, int]] = []

    async def wait() -> None:
        nonlocal last_written
        metas = await asyncio.gather(*(f for f, _ in pending))
        last_written = metas[-1].offset + pending[-1][1] - 1
        pending.clear()

    for rec in read_partition(part_dir):
        while pending_wanted and pending_wanted[0] <= rec.offset:
            index_of[pending_wanted.pop(0)] = count
        archived_last = rec.offset
        if batch.append(key=rec.key, value=rec.value, timestamp=rec.timestamp, headers=rec.headers) is None:
            pending.append((await producer.send_batch(batch, tp.topic, partition=tp.partition), batch.record_count()))
            batch = producer.create_batch()
            batch.append(key=rec.key, value=rec.value, timestamp=rec.timestamp, headers=rec.headers)
        count += 1
        if len(pending) >= 64:
            await wait()
    if batch.record_count():
        pending.append((await producer.send_batch(batch, tp.topic, partition=tp.partition), batch.record_count()))
    if pending:
        await wait()
    if last_written != archived_last:
        log.warning("restore: %s archived up to offset %d, restored up to %d (offsets moved: compaction "
                    "gaps, or a non-empty start)", tp, archived_last, last_written)
    for offset in pending_wanted:  # at or past the archive's end: the restored end
        index_of[offset] = count
    start = last_written - count + 1 if count else 0
    return count, {offset: start + i for offset, i in index_of.items()}


def run_backup(settings: Settings, root: Path, follow: bool) -> int:
    """`fundwatch log backup`: SIGTERM/SIGINT end a --follow run after it copied up to the end."""
    import signal

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        return await backup(settings, root, follow=follow, stop=stop)

    written = asyncio.run(main())
    print(f"archived {written} records to {root}", flush=True)
    return 0


def run_restore(settings: Settings, root: Path) -> int:
    written = asyncio.run(restore(settings, root))
    print(f"restored {sum(written.values())} records from {root}"
          + "".join(f"\n  {t}: {n}" for t, n in sorted(written.items())), flush=True)
    return 0


__all__ = ["PartitionWriter", "archived_ends", "backup", "read_partition", "restore", "run_backup", "run_restore"]
