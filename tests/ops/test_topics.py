"""Topics as the registry and the replication settings say: created so, and checked at start-up."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pydantic import ValidationError

from contracts.topics import TOPICS, Family
from services.runtime.kafka import TopicMismatch, ensure_topics, new_topic, registry_topics
from services.runtime.metrics import TopicGate
from services.runtime.settings import Settings
from tests.conftest import settings_env
from tests.platform import ROOT


def test_replication_settings_shape_every_created_topic():
    cluster = Settings(topic_replication_factor=3, topic_min_insync_replicas=2)
    topics = {t.name: t for t in registry_topics(cluster)}
    assert len(topics) == len(TOPICS)
    for family, spec in TOPICS.items():
        t = topics[spec.name()]
        assert (t.num_partitions, t.replication_factor) == (spec.partitions, 3)
        assert t.topic_configs["min.insync.replicas"] == "2"
        assert (t.topic_configs.get("cleanup.policy") == "compact") == spec.compacted, family
    embedded = new_topic(Settings(), "x", 2, compacted=True)  # one node: Kafka's defaults, nothing extra sent
    assert embedded.replication_factor == 1 and embedded.topic_configs == {"cleanup.policy": "compact"}
    with pytest.raises(ValidationError, match="MIN_INSYNC"):
        Settings(topic_replication_factor=1, topic_min_insync_replicas=2)


@pytest.mark.integration
def test_existing_topics_that_differ_from_the_registry_are_refused_at_start_up(make_settings, sqlite_url):
    settings = make_settings(sqlite_url)
    wrong_partitions, not_compacted = settings.topic(Family.payment), settings.topic(Family.rule_config)

    async def run() -> tuple[str, str, bool]:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        await admin.start()
        try:  # made by hand (or auto-created) with other settings than the registry's
            await admin.create_topics([NewTopic(wrong_partitions, 2, 1), NewTopic(not_compacted, 1, 1)])
        finally:
            await admin.close()
        with pytest.raises(TopicMismatch) as refused:
            await ensure_topics(settings)
        gate = TopicGate(settings, (Family.payment,))
        ready = await gate.ready()
        return str(refused.value), gate.reason, ready

    message, reason, ready = asyncio.run(run())
    assert f"{wrong_partitions} has 2 partitions, the registry says 6" in message
    assert f"{not_compacted} is not compacted" in message
    assert not ready and "has 2 partitions" in reason  # ingest's readiness says the same
    # every other registry topic was created as the registry says: a second run finds only the two
    assert asyncio.run(ensure_topics(settings, (Family.ledger, Family.alert))) == []
    cli = subprocess.run([sys.executable, "-m", "services.runtime.cli", "topics"], cwd=ROOT,
                         env=settings_env(settings), capture_output=True, text=True, timeout=120)
    assert cli.returncode == 2 and "has 2 partitions" in cli.stderr


@pytest.mark.integration
def test_topics_made_as_the_registry_says_pass_the_check(make_settings, sqlite_url):
    settings = make_settings(sqlite_url)
    created = asyncio.run(ensure_topics(settings))
    assert len(created) == len(TOPICS)
    assert asyncio.run(ensure_topics(settings)) == []  # checked, nothing differs
    assert asyncio.run(TopicGate(settings, tuple(TOPICS)).ready())
