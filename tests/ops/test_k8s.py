"""deploy/k8s: generated from the registry and the settings, checked in up to date, valid against
the Kubernetes schemas (kubernetes-validate, offline); Strimzi resources checked for what they promise."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

from contracts.topics import TOPICS
from services.alerts.config import AlertsSettings
from services.runtime.cli import SERVICES, build_parser
from services.runtime.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
_spec = importlib.util.spec_from_file_location("k8s_generate", K8S / "generate.py")
generate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(generate)

DOCS = [d for f in sorted(K8S.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text(encoding="utf-8")) if d]
BY_KIND: dict[str, list[dict]] = {}
for _d in DOCS:
    BY_KIND.setdefault(_d["kind"], []).append(_d)
STRIMZI = {"Kafka", "KafkaNodePool", "KafkaTopic"}


def test_checked_in_manifests_are_what_the_generator_makes(tmp_path):
    assert generate.main(["--check"]) == 0, "run python deploy/k8s/generate.py"
    assert generate.main(["--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.glob("*.yaml")) == sorted(p.name for p in K8S.glob("*.yaml"))


@pytest.mark.parametrize("doc", [d for d in DOCS if d["kind"] not in STRIMZI],
                         ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_core_resources_validate_against_the_kubernetes_schema(doc):
    kv = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate not installed")
    kv.validate(doc, "1.30.0", strict=True)


def test_kafka_runs_three_brokers_with_replication_three_and_min_insync_two():
    (pool,) = BY_KIND["KafkaNodePool"]
    (kafka,) = BY_KIND["Kafka"]
    assert pool["spec"]["replicas"] == 3 and set(pool["spec"]["roles"]) == {"controller", "broker"}
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
    config = kafka["spec"]["kafka"]["config"]
    assert config["default.replication.factor"] == 3 and config["min.insync.replicas"] == 2
    assert config["offsets.topic.replication.factor"] == 3
    assert config["auto.create.topics.enable"] is False
    assert kafka["metadata"]["annotations"]["strimzi.io/kraft"] == "enabled"


def test_every_registry_topic_is_a_kafkatopic_with_its_partitions_and_policy():
    topics = {t["spec"]["topicName"]: t["spec"] for t in BY_KIND["KafkaTopic"]}
    settings = Settings()
    for family, spec in TOPICS.items():
        found = topics[settings.topic(family)]
        assert found["partitions"] == spec.partitions and found["replicas"] == 3
        assert found["config"]["min.insync.replicas"] == 2
        assert (found["config"].get("cleanup.policy") == "compact") == spec.compacted
    assert topics["fundwatch.alerts.state.v1"]["config"]["cleanup.policy"] == "compact"
    assert topics["fundwatch.alerts.work.v1"]["partitions"] == AlertsSettings().partitions


def test_deployments_run_fundwatch_commands_with_probes_and_settings():
    deployments = {d["metadata"]["name"]: d for d in BY_KIND["Deployment"]}
    assert set(deployments) == {*SERVICES, "alerts-worker"}
    fields = {f"FUNDWATCH_{n.upper()}" for n in Settings.model_fields}
    prefix = AlertsSettings.model_config.get("env_prefix", "FUNDWATCH_")
    fields |= {f"{prefix}{n}".upper() for n in AlertsSettings.model_fields}
    fields.add("FUNDWATCH_LOG_LEVEL")  # read by `fundwatch serve` itself (services/runtime/cli.py)
    for cm in BY_KIND["ConfigMap"] + BY_KIND["Secret"]:
        data = cm.get("data") or cm.get("stringData")
        assert set(data) <= fields, set(data) - fields
    settings = Settings()
    for name, d in deployments.items():
        pod = d["spec"]["template"]["spec"]
        (c,) = pod["containers"]
        args = build_parser().parse_args(c["args"])
        assert args.command == "serve" and args.service == name
        assert build_parser().parse_args(pod["initContainers"][0]["args"]).wait is True
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
        if name in SERVICES:
            assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert c["ports"][0]["containerPort"] == int(settings.url(name).rsplit(":", 1)[1])
        assert d["spec"]["template"]["metadata"]["annotations"]["prometheus.io/path"] == "/metrics"
    assert deployments["alerts-worker"]["spec"]["replicas"] == AlertsSettings().partitions


def test_services_select_their_deployment():
    deployments = {d["metadata"]["name"]: d for d in BY_KIND["Deployment"]}
    for svc in BY_KIND["Service"]:
        target = deployments[svc["metadata"]["name"]]
        assert svc["spec"]["selector"].items() <= target["spec"]["template"]["metadata"]["labels"].items()
