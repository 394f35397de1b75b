"""Has the log moved under a consumer? One check for every consumer of the platform (the
projections, the alerts router): another cluster id than the one read before (a broker that came
back empty, or restored from the archive), or a position beyond a partition's end (a truncated or
reset log). What to do about it is the consumer's: a projection reads the partitions again from the
beginning (its applies are idempotent by event id); the alerts worker starts over from what the log
holds (its repeats are recognised by offset, which a new log reuses)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import OffsetOutOfRangeError

from services.runtime.settings import Settings

log = logging.getLogger(__name__)


class LogWatch:
    """Remembers the cluster id and the positions found inside the log; `moved` says which
    partitions moved since. None of its questions guesses: a broker that does not answer moves nothing."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cluster_id: str | None = None  # of the broker the positions are of
        self._admin: AIOKafkaAdminClient | None = None
        self._probe: Any = None  # a consumer of its own for looking at log ends (made on first use)
        self._confirmed: dict[tuple[str, int], int] = {}  # positions found to be inside the log

    async def cluster(self) -> str | None:
        try:
            if self._admin is None:
                self._admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap,
                                                  request_timeout_ms=5000)
                await self._admin.start()
            return (await self._admin.describe_cluster()).get("cluster_id")
        except Exception as exc:
            log.debug("describe_cluster failed: %r", exc)
            if self._admin is not None:
                with contextlib.suppress(Exception):
                    await self._admin.close()
                self._admin = None
            return None

    async def holds(self, tp: TopicPartition, offset: int, end: int) -> bool | None:
        """Does the log hold a record at `offset`, past the reported `end`? Tansu reports as the end
        the last record batch's first offset + 1, so that batch is read (from `end - 1`): an intact
        log has `offset` in it. None when the broker does not answer (no reset on a guess)."""
        from aiokafka import AIOKafkaConsumer

        if end <= 0:
            return False  # an empty log holds nothing below any stored position
        try:
            if self._probe is None:
                self._probe = AIOKafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap,
                                               enable_auto_commit=False, auto_offset_reset="none")
                await self._probe.start()
            probe = self._probe
            probe.assign([tp])
            probe.seek(tp, end - 1)
            seen = False
            for _ in range(20):  # the last batch, fetch by fetch, until past `offset` or the log's end
                found = (await probe.getmany(tp, timeout_ms=3000)).get(tp, [])
                if not found:
                    return False if seen else None  # read to the end without it / no answer at all
                seen = True
                if any(r.offset == offset for r in found):
                    return True
                if found[-1].offset > offset:
                    return False
            return None
        except OffsetOutOfRangeError:
            return False
        except Exception as exc:
            log.debug("probe of %s@%d: %r", tp, offset, exc)
            return None

    async def moved(self, consumer: Any, tps: Sequence[TopicPartition],
                    positions: Mapping[tuple[str, int], int | None]) -> list[tuple[TopicPartition, str]]:
        """The partitions of `tps` whose log moved, with why: all of them when the cluster id
        changed, else those whose position (the next offset to read; None: not known) lies beyond
        the end. `consumer` answers the end offsets."""
        cluster = await self.cluster()
        if not tps or cluster is None:
            return []
        moved: list[tuple[TopicPartition, str]] = []
        if self.cluster_id is not None and cluster != self.cluster_id:
            moved = [(tp, f"cluster id {self.cluster_id} → {cluster}") for tp in tps]
            self._confirmed.clear()
        else:
            try:
                ends = await consumer.end_offsets(list(tps))
            except Exception as exc:
                log.debug("end_offsets failed: %r", exc)
                return []
            for tp in tps:
                key = (tp.topic, tp.partition)
                pos = positions.get(key)
                if pos is None or pos <= ends.get(tp, 0) or self._confirmed.get(key) == pos:
                    continue
                # Tansu reports the end as the last batch's first offset + 1: look for the record itself
                held = await self.holds(tp, pos - 1, ends.get(tp, 0))
                if held:
                    self._confirmed[key] = pos
                elif held is False:
                    moved.append((tp, f"position {pos} beyond the log end {ends.get(tp, 0)}"))
        self.cluster_id = cluster
        return moved

    async def close(self) -> None:
        if self._admin is not None:
            with contextlib.suppress(Exception):
                await self._admin.close()
            self._admin = None
        if self._probe is not None:
            with contextlib.suppress(Exception):
                await self._probe.stop()
            self._probe = None


__all__ = ["LogWatch"]
