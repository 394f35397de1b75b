"""The supervisor under injected faults: kill -9 of a child, of the broker, of the broker's parent."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from contracts.topics import TOPICS
from services.runtime.broker import EmbeddedBroker, free_port
from services.runtime.kafka import ensure_topics
from services.runtime.supervisor import Supervisor, print_status
from tests.platform import ROOT, wait_for

pytestmark = pytest.mark.integration


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_broker_dies_with_its_parent_on_kill_9():
    port = free_port()
    cli = subprocess.Popen([sys.executable, "-m", "services.runtime.cli", "broker", "--port", str(port)], cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _listening(port), 30, "the broker listening")
        os.kill(cli.pid, signal.SIGKILL)  # the parent only: Tansu must follow by itself
        cli.wait()
        wait_for(lambda: not _listening(port), 15, "no Tansu holding the port")
        probe = socket.socket()
        probe.bind(("127.0.0.1", port))  # the port is free for the next broker
        probe.close()
    finally:
        if cli.poll() is None:
            cli.kill()


def test_a_killed_service_is_restarted_and_the_rest_stays_up(make_settings, sqlite_url, tmp_path, capsys):
    settings = make_settings(sqlite_url)
    sup = Supervisor(settings, tmp_path)
    try:
        ingest, access = sup.start("ingest"), sup.start("access")
        wait_for(lambda: (sup.tick(), _healthy(settings.url("ingest")) and _healthy(settings.url("access")))[1],
                 90, "ingest and access healthy")
        first_pid, access_pid = ingest.process.pid, access.process.pid
        os.killpg(first_pid, signal.SIGKILL)
        wait_for(lambda: (sup.tick(), ingest.restarts == 1 and _healthy(settings.url("ingest")))[1],
                 90, "ingest restarted")
        assert ingest.process.pid != first_pid
        assert ingest.last_exit == -signal.SIGKILL
        assert access.process.pid == access_pid and access.restarts == 0  # the others never stopped
        rows = {r["name"]: r for r in sup.status()["children"]}
        assert rows["ingest"]["restarts"] == 1 and rows["ingest"]["state"] == "running"
        assert rows["access"]["restarts"] == 0
        err = capsys.readouterr().err
        assert f"ingest (pid {first_pid}) exited with -9" in err and "restarting in 1 s (restart 1" in err
        assert "ingest restarted (pid" in err
        assert print_status(tmp_path / "status.json") == 0
        out = capsys.readouterr().out
        assert "ingest" in out and "access" in out and "running" in out
    finally:
        sup.stop()


async def _topics(bootstrap: str) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return {d["topic"]: len(d["partitions"]) for d in await admin.describe_topics(await admin.list_topics())}
    finally:
        await admin.close()


def test_a_killed_broker_is_restarted_with_the_registry_topics(make_settings, sqlite_url, tmp_path, capsys):
    broker = EmbeddedBroker(free_port(), log_path=tmp_path / "tansu.log").start()
    settings = make_settings(sqlite_url, kafka_bootstrap=broker.bootstrap)
    sup = Supervisor(settings, tmp_path, broker=broker,
                     on_broker_start=lambda: asyncio.run(ensure_topics(settings)))
    try:
        asyncio.run(ensure_topics(settings))
        first_cluster = broker.cluster_id
        broker.kill()
        wait_for(lambda: (sup.tick(), sup.broker_restarts == 1)[1], 60, "the broker restarted")
        assert broker.alive() and broker.cluster_id != first_cluster
        topics = asyncio.run(_topics(broker.bootstrap))
        for family, spec in TOPICS.items():
            assert topics[settings.topic(family)] == spec.partitions
        err = capsys.readouterr().err
        assert "broker exited with -9; restarting in 1 s" in err and "broker restarted" in err
    finally:
        sup.stop()
        broker.stop()
