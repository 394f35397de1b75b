"""Static checks of deploy/Dockerfile and docker-compose.yml (no Docker engine needed)."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

from services.alerts.config import AlertsSettings  # noqa: E402
from services.runtime.cli import SERVICES, WORKERS, build_parser  # noqa: E402
from services.runtime.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
COMPOSE = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
SVCS: dict[str, dict] = COMPOSE["services"]
# Services running the fundwatch image (built from deploy/Dockerfile).
OURS = {n: s for n, s in SVCS.items() if s.get("build", {}).get("dockerfile") == "deploy/Dockerfile"}
ONE_SHOT = {n for n, s in SVCS.items() if s.get("restart") == "no"}


def _depends(service: dict) -> dict[str, str]:
    deps = service.get("depends_on", {})
    return {d: "service_started" for d in deps} if isinstance(deps, list) else {
        d: (c or {}).get("condition", "service_started") for d, c in deps.items()}


def test_one_image_runs_every_role():
    assert {"topics", "migrate", *SERVICES, *WORKERS} <= set(OURS)
    assert len({s["image"] for s in OURS.values()}) == 1


@pytest.mark.parametrize("name", sorted(OURS))
def test_command_is_a_fundwatch_subcommand(name):
    command = OURS[name]["command"]
    try:
        args = build_parser().parse_args(command)
    except SystemExit:
        pytest.fail(f"{name}: `fundwatch {' '.join(command)}` is not a valid command")
    if args.command == "serve":
        assert args.service == name


def test_serve_services_wait_for_topics_and_migrate_and_publish_their_port():
    for name in SERVICES:
        svc = SVCS[name]
        assert _depends(svc) == {"topics": "service_completed_successfully",
                                 "migrate": "service_completed_successfully"}
        assert svc["restart"] == "unless-stopped"
        env = svc["environment"]
        assert env["FUNDWATCH_MODE"] == "production" and env["FUNDWATCH_HOST"] == "0.0.0.0"
        assert env["FUNDWATCH_PII_KEY"].startswith("${FUNDWATCH_PII_KEY:?")
        port = Settings.model_fields[f"{name}_port"].default
        assert f"{port}:{port}" in svc["ports"]
        probe = " ".join(svc["healthcheck"]["test"])
        assert f":{port}/healthz" in probe and "curl" not in probe


def test_workers_start_after_topics_and_migrate_with_an_internal_health_probe():
    for name in WORKERS:
        svc = SVCS[name]
        assert _depends(svc) == {"topics": "service_completed_successfully",
                                 "migrate": "service_completed_successfully"}
        port = svc["environment"]["FUNDWATCH_ALERTS_WORKER_PORT"]
        assert f":{port}/healthz" in " ".join(svc["healthcheck"]["test"])
        assert "ports" not in svc  # internal: nothing published on the host


def test_depends_on_targets_exist_and_conditions_are_sane():
    for name, svc in SVCS.items():
        for dep, condition in _depends(svc).items():
            assert dep in SVCS, f"{name} depends on unknown service {dep}"
            if condition == "service_healthy":
                assert "healthcheck" in SVCS[dep], f"{name} waits for {dep} healthy, which has no healthcheck"
            elif condition == "service_completed_successfully":
                assert dep in ONE_SHOT, f"{name} waits for {dep} to complete, but it restarts"
    assert _depends(SVCS["topics"]) == {"kafka": "service_healthy"}
    assert _depends(SVCS["migrate"]) == {"postgres": "service_healthy"}


def test_every_long_running_service_has_a_healthcheck():
    for name in set(SVCS) - ONE_SHOT:
        assert SVCS[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    assert "kafka-topics.sh" in " ".join(SVCS["kafka"]["healthcheck"]["test"])
    assert "pg_isready" in " ".join(SVCS["postgres"]["healthcheck"]["test"])


def test_kafka_is_single_node_kraft():
    kafka = SVCS["kafka"]
    env = kafka["environment"]
    assert kafka["image"] == "apache/kafka:3.9.0"
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert len(base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")) == 16
    listeners = dict(x.split("://") for x in env["KAFKA_LISTENERS"].split(","))
    advertised = dict(x.split("://") for x in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    assert set(listeners) == set(advertised) | {env["KAFKA_CONTROLLER_LISTENER_NAMES"]}
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in advertised
    # The services bootstrap from an advertised listener on the compose network.
    bootstrap = SVCS["ingest"]["environment"]["FUNDWATCH_KAFKA_BOOTSTRAP"]
    assert bootstrap in advertised.values() and not bootstrap.startswith("localhost")
    assert "9092:9092" in kafka["ports"] and advertised["EXTERNAL"] == "localhost:9092"
    for key in ("OFFSETS_TOPIC", "TRANSACTION_STATE_LOG"):
        assert env[f"KAFKA_{key}_REPLICATION_FACTOR"] == 1


def test_fundwatch_env_names_are_settings_fields():
    text = COMPOSE_FILE.read_text(encoding="utf-8") + DOCKERFILE.read_text(encoding="utf-8")
    names = set(re.findall(r"\bFUNDWATCH_[A-Z0-9_]+", text))
    assert names, "no FUNDWATCH_* variables found"
    alerts = {f"ALERTS_{n.upper()}" for n in AlertsSettings.model_fields}
    unknown = {n for n in names if n.removeprefix("FUNDWATCH_").lower() not in Settings.model_fields
               and n.removeprefix("FUNDWATCH_") not in alerts}
    assert not unknown, f"not fields of Settings: {sorted(unknown)}"


def test_dockerfile_copy_sources_exist_and_are_not_ignored():
    ignored = {line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    text = DOCKERFILE.read_text(encoding="utf-8")
    copies = [line.split()[1:] for line in text.splitlines() if line.startswith("COPY ")]
    assert copies
    for args in copies:
        sources = [a for a in args if not a.startswith("--")][:-1]
        assert sources
        for src in sources:
            assert (ROOT / src).exists(), f"COPY source {src} is missing from the repository"
            assert src.rstrip("/") not in ignored, f"COPY source {src} is excluded by .dockerignore"
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M)
    assert re.search(r"^USER (?!root\b|0\b)\S+", text, re.M), "the image must not run as root"
    assert re.search(r'^ENTRYPOINT \["fundwatch"\]', text, re.M)
    assert re.search(r"^HEALTHCHECK .*urllib", text, re.M | re.S)


def test_docker_compose_config():
    if shutil.which("docker") is None:
        pytest.skip("docker CLI not installed")
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("`docker compose` is not available on this machine")
    env = {**os.environ, "FUNDWATCH_PII_KEY": "test-key-of-sixteen-chars"}
    done = subprocess.run(["docker", "compose", "-f", str(COMPOSE_FILE), "config", "--quiet"],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    if done.returncode != 0 and "daemon" in done.stderr.lower():
        pytest.skip(f"docker compose needs an engine here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
