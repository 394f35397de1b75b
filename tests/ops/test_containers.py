"""The integration path on Apache Kafka and PostgreSQL (testcontainers), where Docker works; a skip
with the reason where it does not. Same services, same commands as on the embedded broker:
events through ingest into the ledger, then `fundwatch log backup` and `restore` into a second,
empty Kafka, with the records at their offsets."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from services.runtime import archive
from services.runtime.broker import free_port
from services.runtime.kafka import ensure_topics
from services.runtime.settings import Settings
from tests.clients import api_key, key_header, token_header
from tests.conftest import TEST_SECRET
from tests.factories import registered
from tests.platform import ServiceProcess, wait_for

pytestmark = pytest.mark.integration

KAFKA_IMAGE = "confluentinc/cp-kafka:7.6.0"
PG_IMAGE = "postgres:15"


def _docker_or_skip() -> None:
    try:
        import docker

        docker.from_env(timeout=5).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means: no Docker engine here
        pytest.skip(f"no Docker engine reachable for testcontainers ({type(exc).__name__}: {exc})")


@pytest.fixture(scope="module")
def containers():
    _docker_or_skip()
    from testcontainers.community.kafka import KafkaContainer
    from testcontainers.community.postgres import PostgresContainer

    with KafkaContainer(KAFKA_IMAGE).with_kraft() as kafka, PostgresContainer(PG_IMAGE, driver="asyncpg") as pg:
        yield kafka.get_bootstrap_server(), pg.get_connection_url()


def _settings(bootstrap: str, database_url: str) -> Settings:
    return Settings(kafka_bootstrap=bootstrap, database_url=database_url, topic_prefix=f"t{uuid.uuid4().hex[:10]}",
                    ingest_port=free_port(), ledger_port=free_port(), alerts_port=free_port(),
                    notify_port=free_port(), access_port=free_port(), auth_secret=TEST_SECRET)


def test_ingest_to_ledger_and_log_backup_restore_on_apache_kafka(containers, tmp_path):
    bootstrap, database_url = containers
    settings = _settings(bootstrap, database_url)
    asyncio.run(ensure_topics(settings))
    key = api_key(settings, scope="410324")
    ingest = ServiceProcess("ingest", settings, tmp_path).start().wait_healthy(120)
    ledger = ServiceProcess("ledger", settings, tmp_path).start().wait_healthy(120)
    try:
        events = [registered(f"K-{i}", "7.00") for i in range(3)]
        r = httpx.post(f"{settings.url('ingest')}/v1/events/batch", json=events, headers=key_header(key), timeout=30)
        assert r.status_code == 202, r.text

        def applied() -> bool:
            return all(httpx.get(f"{settings.url('ledger')}/v1/indicators/{e['data']['indicator_id']}",
                                 headers=token_header(settings), timeout=5).status_code == 200 for e in events)

        wait_for(applied, 120, "the ledger applied the events on Apache Kafka", ledger, ingest)
    finally:
        ingest.stop()
        ledger.stop()

    backup_dir = tmp_path / "backup"
    assert asyncio.run(archive.backup(settings, backup_dir)) > 0
    ends = archive.archived_ends(backup_dir)
    indicator = settings.topic("indicator")
    assert sum(end for tp, end in ends.items() if tp.topic == indicator) == 3

    # restored under another prefix: empty topics of the same cluster, as a second Kafka would have
    other = _settings(bootstrap, database_url)
    for topic_dir in backup_dir.iterdir():
        topic_dir.rename(backup_dir / topic_dir.name.replace(settings.topic_prefix, other.topic_prefix, 1))
    written = asyncio.run(archive.restore(other, backup_dir))
    assert written[other.topic("indicator")] == 3
