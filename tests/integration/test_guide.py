"""docs/integration.md is run: each Python and curl example that talks to ingest, in order,
against a running ingest, with the environment it documents; then the events they sent are on
the platform's indicator topic (the Kafka one through the intake)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys

import pytest

from contracts import parse_event
from contracts.topics import Family
from tests.clients import api_key
from tests.platform import ROOT, wait_for
from tests.test_ingest import read_all

pytestmark = pytest.mark.integration
BLOCK = re.compile(r"```(python|bash)\n(.*?)```", re.S)


def examples() -> list[tuple[str, str]]:
    text = (ROOT / "docs" / "integration.md").read_text(encoding="utf-8")
    return [(lang, code) for lang, code in BLOCK.findall(text)
            if lang == "python" or "$FUNDWATCH_INGEST_URL" in code]


def test_every_example_of_the_integration_guide_runs(ingest, tmp_path):
    env = {**os.environ, "FUNDWATCH_INGEST_URL": ingest.url("ingest"),
           "FUNDWATCH_API_KEY": api_key(ingest, "410324", client_id="budget-execution-410324"),
           "FUNDWATCH_KAFKA_BOOTSTRAP": ingest.kafka_bootstrap, "FUNDWATCH_TOPIC_PREFIX": ingest.topic_prefix}
    found = examples()
    assert [lang for lang, _ in found].count("python") == 3 and len(found) == 6
    for i, (lang, code) in enumerate(found):
        command = [sys.executable, "-c", code] if lang == "python" else ["bash", "-euo", "pipefail", "-c", code]
        done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"example {i} ({lang}):\n{code}\n{done.stdout}\n{done.stderr}"
        if lang == "bash":
            assert '"accepted"' in done.stdout, done.stdout

    def landed():
        got = {parse_event(v).data.indicator_id
               for v in asyncio.run(read_all(ingest, Family.indicator, timeout_ms=1000))}
        return got if {"GUIDE-1", "GUIDE-2", "GUIDE-3", "GUIDE-5", "GUIDE-6"} <= got else None

    assert wait_for(landed, 60, "the guide's events") == {"GUIDE-1", "GUIDE-2", "GUIDE-3", "GUIDE-5", "GUIDE-6"}
