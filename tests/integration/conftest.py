"""Fixtures of the integrator's view: a running ingest on the session broker."""

from __future__ import annotations

import asyncio

import pytest

from services.runtime.kafka import ensure_topics
from tests.platform import ServiceProcess


@pytest.fixture
def ingest(make_settings, sqlite_url, tmp_path):
    settings = make_settings(sqlite_url)
    asyncio.run(ensure_topics(settings))  # ingest answers 503 until the registry's topics exist
    proc = ServiceProcess("ingest", settings, tmp_path).start().wait_healthy()
    yield settings
    proc.stop()
