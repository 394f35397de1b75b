"""The faust-streaming alerts app: streams, tables and timers around the pure rules.

Beneficiary rules need the registry entry and the payment line of one person together,
so both are re-keyed by the person's keyed hash onto one internal topic; the registry
table, the pending checks and the open-alert table are partitioned the same way, so any
number of workers sees consistent state (cross-county checks included)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections import Counter

import faust
from pydantic import ValidationError

from contracts.envelope import Envelope, parse_event
from contracts.payment import PaymentMade
from contracts.reference import HouseholdMemberRegistered
from contracts.topics import Family
from services.alerts.catalogue import CATALOGUE
from services.alerts.findings import Finding, raised_event
from services.alerts.rules.recipients import BeneficiaryCheck, beneficiaries, ben01_not_in_registry
from services.runtime.settings import Settings

log = logging.getLogger(__name__)
PARTITIONS = 6


def build(settings: Settings) -> faust.App:
    app = faust.App(
        f"{settings.topic_prefix}-alerts",
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",
        broker_session_timeout=settings.session_timeout_ms / 1000,
        broker_rebalance_timeout=settings.rebalance_timeout_ms / 1000,
        broker_heartbeat_interval=settings.heartbeat_interval_ms / 1000,
        consumer_auto_offset_reset="earliest",
        topic_partitions=PARTITIONS,
        topic_replication_factor=1,
        producer_acks=-1,
        web_host=settings.host,
        web_port=settings.alerts_port,
        web_in_thread=False,
    )
    counters: Counter[str] = Counter()
    grace_s = float(CATALOGUE["BEN-01"].params["grace_seconds"])

    raw = {"key_serializer": "raw", "value_serializer": "raw"}
    reference_topic = app.topic(settings.topic(Family.reference), **raw)
    payment_topic = app.topic(settings.topic(Family.payment), **raw)
    alert_topic = app.topic(settings.topic(Family.alert), **raw)
    deadletter_topic = app.topic(settings.topic(Family.deadletter), **raw)
    beneficiary_topic = app.topic(
        f"{settings.topic_prefix}.alerts.beneficiary.v1", partitions=PARTITIONS, internal=True,
        key_serializer="raw", value_serializer="json",
    )

    registry = app.Table("registry", default=None, partitions=PARTITIONS)  # person hash → household status
    pending = app.Table("pending-checks", default=None, partitions=PARTITIONS)  # person hash → [check]
    open_alerts = app.Table("open-alerts", default=None, partitions=PARTITIONS)  # rule|subject → alert id
    in_flight: set[str] = set()

    async def decode(value: bytes, topic: str) -> Envelope | None:
        try:
            return parse_event(value)
        except (ValidationError, ValueError) as exc:
            counters["dead_lettered"] += 1
            record = {"source_topic": topic, "reason": f"invalid event: {exc}"[:2000],
                      "value": value.decode("utf-8", "replace")[:100_000]}
            await deadletter_topic.send(key=topic.encode(), value=json.dumps(record, ensure_ascii=False).encode())
            return None

    async def raise_alert(finding: Finding) -> None:
        if open_alerts.get(finding.dedupe_key) is not None:
            counters["duplicates_suppressed"] += 1
            return
        event = raised_event(finding, dt.datetime.now(dt.UTC))
        await alert_topic.send(key=event.key, value=event.to_json())
        open_alerts[finding.dedupe_key] = finding.alert_id
        counters[f"raised:{finding.rule_id}"] += 1

    @app.agent(reference_topic)
    async def on_reference(stream):
        async for value in stream:
            event = await decode(value, reference_topic.get_topic_name())
            if event is not None and isinstance(event.data, HouseholdMemberRegistered):
                d = event.data
                await beneficiary_topic.send(key=d.person.hash.encode(),
                                             value={"kind": "registry", "status": d.status.value})

    @app.agent(payment_topic)
    async def on_payment(stream):
        async for value in stream:
            event = await decode(value, payment_topic.get_topic_name())
            counters["payments"] += event is not None and isinstance(event.data, PaymentMade)
            if event is not None and isinstance(event.data, PaymentMade):
                for check in beneficiaries(event.id, event.region, event.data):
                    await beneficiary_topic.send(key=check.person_hash.encode(),
                                                 value={"kind": "check", "check": check.__dict__})

    @app.agent(beneficiary_topic)
    async def on_beneficiary(stream):
        async for key, msg in stream.items():
            person = key.decode()
            if msg["kind"] == "registry":
                registry[person] = msg["status"]
                if msg["status"] != "removed" and pending.get(person):
                    pending.pop(person, None)  # registered within the grace period: nothing to report
                continue
            if msg["kind"] == "check":
                check = msg["check"]
                if registry.get(person) is None and grace_s > 0:
                    pending[person] = [*(pending.get(person) or []), {**check, "due": time.time() + grace_s}]
                    continue
                await evaluate(person, [check])
            elif msg["kind"] == "recheck":
                in_flight.discard(person)
                waiting = pending.get(person) or []
                now = time.time()
                due = [c for c in waiting if c["due"] <= now]
                if due:
                    rest = [c for c in waiting if c["due"] > now]
                    if rest:
                        pending[person] = rest
                    else:
                        pending.pop(person, None)
                    await evaluate(person, due)

    async def evaluate(person: str, checks: list[dict]) -> None:
        status = registry.get(person)
        for raw_check in checks:
            check = BeneficiaryCheck(**{k: v for k, v in raw_check.items() if k != "due"})
            finding = ben01_not_in_registry(check, status)
            counters["checks"] += 1
            if finding:
                await raise_alert(finding)

    @app.timer(interval=1.0)
    async def recheck_due() -> None:
        now = time.time()
        for person, waiting in list(pending.items()):
            if waiting and person not in in_flight and any(c["due"] <= now for c in waiting):
                in_flight.add(person)
                await beneficiary_topic.send(key=person.encode(), value={"kind": "recheck"})

    @app.page("/healthz")
    async def healthz(web, request):
        return web.json({"status": "ok"})

    @app.page("/v1/status")
    async def status(web, request):
        return web.json({"counters": dict(counters), "open_alerts": len(open_alerts),
                         "registry_size": len(registry)})

    return app
