"""Generate the Kubernetes manifests of fundwatch (deploy/k8s/*.yaml) from the code that defines
what they describe: the topics from contracts/topics.py, the ports and settings from
services/runtime/settings.py, the roles from the `fundwatch` CLI, the alert workers' count from the
work topic's partitions. Kafka is run by the Strimzi operator (Kafka, KafkaNodePool, KafkaTopic:
3 brokers in KRaft mode, replication 3, min.insync.replicas 2, no topic auto-creation).

    python deploy/k8s/generate.py            # rewrite deploy/k8s/*.yaml
    python deploy/k8s/generate.py --check    # exit 1 when the checked-in files are stale

tests/ops/test_k8s.py checks the files against this script and the Kubernetes schemas."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from contracts.topics import TOPICS, Family  # noqa: E402
from services.alerts.config import AlertsSettings  # noqa: E402
from services.runtime.cli import SERVICES  # noqa: E402
from services.runtime.settings import Settings  # noqa: E402

OUT = Path(__file__).resolve().parent
NAMESPACE = "fundwatch"
CLUSTER = "fundwatch-kafka"
IMAGE = "fundwatch:1"  # built from deploy/Dockerfile; push it where the cluster pulls from
BROKERS, REPLICATION, MIN_ISR = 3, 3, 2
WORKER_PORT = 6066
# The log is the record of every fact: input, command, audit and derived topics keep everything.
RETENTION_MS = {Family.deadletter: 90 * 24 * 3600 * 1000}  # parked poison messages: 90 days
LABELS = {"app.kubernetes.io/part-of": "fundwatch"}


def _meta(name: str, **labels: str) -> dict:
    return {"name": name, "namespace": NAMESPACE, "labels": {**LABELS, **labels}}


def namespace() -> list[dict]:
    return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": dict(LABELS)}}]


def kafka() -> list[dict]:
    pool = {
        "apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaNodePool",
        "metadata": {**_meta("dual-role"), "labels": {**LABELS, "strimzi.io/cluster": CLUSTER}},
        "spec": {"replicas": BROKERS, "roles": ["controller", "broker"],
                 "storage": {"type": "jbod", "volumes": [
                     {"id": 0, "type": "persistent-claim", "size": "100Gi", "deleteClaim": False,
                      "kraftMetadata": "shared"}]},
                 "resources": {"requests": {"cpu": "1", "memory": "4Gi"}, "limits": {"memory": "4Gi"}}},
    }
    cluster = {
        "apiVersion": "kafka.strimzi.io/v1beta2", "kind": "Kafka",
        "metadata": {**_meta(CLUSTER), "annotations": {"strimzi.io/node-pools": "enabled",
                                                        "strimzi.io/kraft": "enabled"}},
        "spec": {
            "kafka": {
                "version": "3.9.0", "metadataVersion": "3.9-IV0",
                "listeners": [{"name": "plain", "port": 9092, "type": "internal", "tls": False}],
                "config": {
                    "default.replication.factor": REPLICATION, "min.insync.replicas": MIN_ISR,
                    "offsets.topic.replication.factor": REPLICATION,
                    "transaction.state.log.replication.factor": REPLICATION,
                    "transaction.state.log.min.isr": MIN_ISR,
                    "auto.create.topics.enable": False,  # topics come from KafkaTopic (the registry) only
                    "unclean.leader.election.enable": False,
                },
            },
            "entityOperator": {"topicOperator": {}, "userOperator": {}},
        },
    }
    return [pool, cluster]


def topics(settings: Settings) -> list[dict]:
    out = []
    for family, spec in TOPICS.items():
        config: dict = {"min.insync.replicas": MIN_ISR}
        if spec.compacted:
            config["cleanup.policy"] = "compact"
        else:
            config["retention.ms"] = RETENTION_MS.get(family, -1)
        name = spec.name(settings.topic_prefix)
        out.append({
            "apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaTopic",
            "metadata": {**_meta(name.replace(".", "-")), "labels": {**LABELS, "strimzi.io/cluster": CLUSTER}},
            "spec": {"topicName": name, "partitions": spec.partitions, "replicas": REPLICATION, "config": config},
        })
    partitions = AlertsSettings().partitions
    for topic, config in ((f"{settings.topic_prefix}.alerts.work.v1", {"retention.ms": 7 * 24 * 3600 * 1000}),
                          (f"{settings.topic_prefix}.alerts.state.v1", {"cleanup.policy": "compact"})):
        out.append({
            "apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaTopic",
            "metadata": {**_meta(topic.replace(".", "-")), "labels": {**LABELS, "strimzi.io/cluster": CLUSTER}},
            "spec": {"topicName": topic, "partitions": partitions, "replicas": REPLICATION,
                     "config": {"min.insync.replicas": MIN_ISR, **config}},
        })
    return out


def config_and_secrets() -> list[dict]:
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta("fundwatch-config"), "data": {
        "FUNDWATCH_MODE": "production", "FUNDWATCH_HOST": "0.0.0.0",
        "FUNDWATCH_KAFKA_BOOTSTRAP": f"{CLUSTER}-kafka-bootstrap.{NAMESPACE}.svc:9092",
        "FUNDWATCH_ALERTS_WORKER_PORT": str(WORKER_PORT), "FUNDWATCH_LOG_LEVEL": "INFO",
        # what a topic the platform creates or checks itself must have (the KafkaTopics above have it)
        "FUNDWATCH_TOPIC_REPLICATION_FACTOR": str(REPLICATION), "FUNDWATCH_TOPIC_MIN_INSYNC_REPLICAS": str(MIN_ISR)}}
    # Values the services refuse (too short) until replaced: a forgotten secret stops them, it does not run weak.
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": _meta("fundwatch-secrets"), "type": "Opaque",
              "stringData": {"FUNDWATCH_PII_KEY": "replace-me", "FUNDWATCH_AUTH_SECRET": "replace-me",
                             "FUNDWATCH_DATABASE_URL": "postgresql+asyncpg://fundwatch:replace-me@postgres:5432/fundwatch"}}
    return [config, secret]


def _container(name: str, command: list[str], port: int | None) -> dict:
    c: dict = {
        "name": name, "image": IMAGE, "args": command,
        "envFrom": [{"configMapRef": {"name": "fundwatch-config"}}, {"secretRef": {"name": "fundwatch-secrets"}}],
        "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    if port is not None:
        c["ports"] = [{"name": "http", "containerPort": port}]
    return c


def _wait_for_topics() -> dict:
    c = _container("wait-for-topics", ["topics", "--wait"], None)
    c["resources"] = {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}
    return c


def _deployment(name: str, container: dict, replicas: int, port: int) -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(name, **{"app.kubernetes.io/name": name}),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "template": {
                "metadata": {"labels": {**LABELS, "app.kubernetes.io/name": name},
                             "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": str(port),
                                             "prometheus.io/path": "/metrics"}},
                "spec": {"initContainers": [_wait_for_topics()], "containers": [container],
                         "volumes": [{"name": "tmp", "emptyDir": {}}],
                         "terminationGracePeriodSeconds": 30},
            },
        },
    }


def services(settings: Settings) -> list[dict]:
    out = []
    for name in SERVICES:
        port = int(settings.url(name).rsplit(":", 1)[1])
        c = _container(name, ["serve", name], port)
        c["readinessProbe"] = {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 10,
                               "timeoutSeconds": 5, "failureThreshold": 3}
        c["livenessProbe"] = {"httpGet": {"path": "/healthz", "port": "http"}, "initialDelaySeconds": 30,
                              "periodSeconds": 15, "timeoutSeconds": 5, "failureThreshold": 4}
        # ingest and access hold no consumer state; the projections run as one replica (not tested shared)
        replicas = 2 if name in ("ingest", "access") else 1
        out.append(_deployment(name, c, replicas, port))
        out.append({"apiVersion": "v1", "kind": "Service", "metadata": _meta(name, **{"app.kubernetes.io/name": name}),
                    "spec": {"selector": {"app.kubernetes.io/name": name},
                             "ports": [{"name": "http", "port": port, "targetPort": "http"}]}})
    worker = _container("alerts-worker", ["serve", "alerts-worker"], WORKER_PORT)
    worker["livenessProbe"] = {"httpGet": {"path": "/healthz", "port": "http"}, "initialDelaySeconds": 60,
                               "periodSeconds": 15, "timeoutSeconds": 5, "failureThreshold": 4}
    # as many workers as the work topic has partitions: more would sit idle
    out.append(_deployment("alerts-worker", worker, AlertsSettings().partitions, WORKER_PORT))
    return out


def jobs() -> list[dict]:
    migrate = {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": _meta("fundwatch-migrate"),
        "spec": {"backoffLimit": 6, "template": {"metadata": {"labels": dict(LABELS)}, "spec": {
            "restartPolicy": "OnFailure", "containers": [_container("migrate", ["migrate"], None)],
            "volumes": [{"name": "tmp", "emptyDir": {}}]}}},
    }
    backup = _container("log-backup", ["log", "backup", "/backup"], None)
    backup["volumeMounts"] = [*backup["volumeMounts"], {"name": "backup", "mountPath": "/backup"}]
    cron = {
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": _meta("fundwatch-log-backup"),
        "spec": {"schedule": "17 * * * *", "concurrencyPolicy": "Forbid", "jobTemplate": {"spec": {"template": {
            "metadata": {"labels": dict(LABELS)},
            "spec": {"restartPolicy": "OnFailure", "containers": [backup],
                     "volumes": [{"name": "tmp", "emptyDir": {}},
                                 {"name": "backup",
                                  "persistentVolumeClaim": {"claimName": "fundwatch-log-backup"}}]}}}}},
    }
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": _meta("fundwatch-log-backup"),
             "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "200Gi"}}}}
    return [migrate, claim, cron]


def manifests() -> dict[str, list[dict]]:
    settings = Settings(mode="embedded")
    return {"00-namespace.yaml": namespace(), "10-kafka.yaml": kafka(), "20-topics.yaml": topics(settings),
            "30-config.yaml": config_and_secrets(), "40-jobs.yaml": jobs(), "50-services.yaml": services(settings)}


def render(docs: list[dict]) -> str:
    head = "# Generated by deploy/k8s/generate.py from contracts/topics.py and the settings; do not edit.\n"
    return head + "---\n".join(yaml.safe_dump(d, sort_keys=False, allow_unicode=True) for d in docs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    stale = []
    for name, docs in manifests().items():
        text, path = render(docs), args.out / name
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"stale: {', '.join(stale)}; run python deploy/k8s/generate.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
