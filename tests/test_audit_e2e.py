"""The audit log end to end: ingest and access as processes on the embedded broker. A refused key,
an accepted request and a failed login at another service reach the access service's audit
table through the audit topic, and an auditor reads them within its region."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from services.runtime.auth import Role
from services.runtime.kafka import ensure_topics
from tests import factories as f
from tests.clients import api_key, key_header, token_header
from tests.platform import ServiceProcess, wait_for

pytestmark = pytest.mark.integration


def test_refusals_and_credential_use_reach_the_auditors(make_settings, sqlite_url, tmp_path):
    settings = make_settings(sqlite_url)
    asyncio.run(ensure_topics(settings))  # ingest answers 503 until the registry's topics exist (issue 13)
    key = api_key(settings, "410324", client_id="county-410324")
    procs = [ServiceProcess(n, settings, tmp_path).start() for n in ("access", "ingest")]
    try:
        for p in procs:
            p.wait_healthy()
        url = f"{settings.url('ingest')}/v1/events/batch"
        assert httpx.post(url, json=[f.payment("P1", "I1", "1.00")], headers=key_header(key)).status_code == 202
        forged = httpx.post(url, json=[f.payment("P2", "I1", "1.00", region="411326")], headers=key_header(key))
        assert forged.status_code == 403
        assert httpx.post(url, json=[f.payment("P3", "I1", "1.00")], headers=key_header(key[:-3] + "AAA")
                          ).status_code == 401
        assert httpx.get(f"{settings.url('ingest')}/v1/status", headers={"Authorization": "Bearer x"}
                         ).status_code == 401

        county_auditor = token_header(settings, "410324", roles=(Role.auditor,))
        audit_url = f"{settings.url('access')}/v1/audit"

        def seen() -> dict[str, list[dict]] | None:
            items = httpx.get(audit_url, headers=county_auditor, params={"limit": 500}).json()["items"]
            by_action: dict[str, list[dict]] = {}
            for item in items:
                by_action.setdefault(item["action"], []).append(item)
            wanted = {"client.created", "client.used", "client.refused", "auth.failed"}
            return by_action if wanted <= set(by_action) else None

        records = wait_for(seen, 60, "audit records at the access service", *procs)
        [used] = records["client.used"]
        assert (used["actor"], used["actor_kind"], used["service"], used["client_ip"], used["details"]["events"]) == (
            "county-410324", "client", "ingest", "127.0.0.1", "1")
        [refused] = records["client.refused"]
        assert refused["reason"] == "row 0: region 411326 is outside the scope 410324 of client county-410324"
        [failed] = records["auth.failed"]  # the wrong key of a 410324 client is a 410324 record
        assert failed["outcome"] == "refused" and failed["reason"] == "unknown API key"
        # The malformed token at the status page has no region: a Ministry record, not the county's.
        ministry = token_header(settings, "000000", roles=(Role.auditor,))
        wait_for(lambda: any(i["reason"] == "invalid token: Not enough segments" for i in httpx.get(
            audit_url, headers=ministry, params={"action": "auth.failed"}).json()["items"]), 60,
            "the status page's refusal", *procs)
        assert httpx.get(audit_url, headers=token_header(settings, "411326", roles=(Role.auditor,))
                         ).json()["total"] == 0
    finally:
        for p in procs:
            p.stop()
