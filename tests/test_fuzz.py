"""schemathesis against the OpenAPI document of every API (ingest, ledger, alerts, notify, access),
in the normal test run: requests generated from each operation's schema, sent with a credential
that reaches the deepest code (a Ministry token holding every role; ingest's event intake with a
Ministry client's key), each response checked for 5xx and against its documented schema.

Bounded for CI: FUNDWATCH_FUZZ_EXAMPLES examples per operation (default 25), derandomized so a
run repeats. Each app runs in-process on one event loop (a thread) over a seeded SQLite store;
ingest publishes what it accepts to the session's embedded broker."""

from __future__ import annotations

import asyncio
import os
import threading
from collections import Counter
from collections.abc import Coroutine
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from services.access.api import create_app as access_app
from services.alerts.api import create_app as alerts_app
from services.ingest.api import create_app as ingest_app
from services.ledger.api import create_app as ledger_app
from services.notify.api import create_app as notify_app
from services.runtime.auth import Role, issue_token
from services.runtime.db import make_engine
from tests.clients import api_key
from tests.test_scope_matrix import seed_world

pytestmark = pytest.mark.integration
EXAMPLES = int(os.environ.get("FUNDWATCH_FUZZ_EXAMPLES", "25"))
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


class Loop:
    """One event loop in a thread for the apps (their engines and producers live on it)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=120)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def test_every_api_survives_generated_requests(make_settings, tmp_path):
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'fuzz.db'}", notify_stream_max_s=0.05)
    seed_world(settings)
    key = api_key(settings)
    token = issue_token(settings, "fuzzer", "000000", ("agri-410324",), roles=tuple(Role))
    loop = Loop()
    engine = make_engine(settings.database_url)
    apps = {"ingest": ingest_app(settings, engine), "ledger": ledger_app(engine, None, settings),
            "alerts": alerts_app(engine, settings),
            "notify": notify_app(engine, None, settings, httpx.AsyncClient(  # the report reads the ledger API
                transport=httpx.ASGITransport(app=ledger_app(engine, None, settings)), base_url="http://ledger"),
                httpx.AsyncClient(  # ... and the alerts API
                    transport=httpx.ASGITransport(app=alerts_app(engine, settings)), base_url="http://alerts")),
            "access": access_app(engine, settings)}
    sent: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    failures: list[str] = []

    def fuzz(operation, client: httpx.AsyncClient, credential: str, name: str) -> None:
        @given(case=operation.as_strategy())
        @hypothesis_settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                             suppress_health_check=list(HealthCheck))
        def run(case) -> None:
            kwargs = case.as_transport_kwargs(base_url=f"http://{name}")
            kwargs["headers"] = {**kwargs.get("headers", {}), "Authorization": f"Bearer {credential}"}
            kwargs.pop("cookies", None)
            if kwargs.get("files"):  # extra multipart parts may be generated as numbers, which httpx cannot send
                kwargs["files"] = [(n, (part[0], v if isinstance(v := part[1], (bytes, str)) else str(v), *part[2:]))
                                   for n, part in kwargs["files"]]
            request = client.build_request(**kwargs)
            request.read()  # a multipart body is a stream: read it so the checks can look at the request
            response = loop.run(client.send(request))
            sent[name] += 1
            statuses[response.status_code] += 1
            try:
                case.validate_response(response, checks=CHECKS)
            except (Exception, BaseExceptionGroup) as exc:
                failures.append(f"{name} {operation.label} → {response.status_code}: {str(exc)[:300]}")

        run()

    try:
        for name, app in apps.items():
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}")
            schema = schemathesis.openapi.from_dict(app.openapi())
            for result in schema.get_all_operations():
                operation = result.ok()
                credential = key if name == "ingest" and operation.path.startswith("/v1/events") else token
                fuzz(operation, client, credential, name)
            loop.run(client.aclose())
    finally:
        loop.run(engine.dispose())
        loop.close()
    total = sum(sent.values())
    print(f"fuzz: {total} requests ({dict(sent)}); statuses {dict(sorted(statuses.items()))}; "
          f"{EXAMPLES} examples per operation")
    assert not [s for s in statuses if s >= 500], failures
    assert not failures, "\n".join(failures[:30])
    assert total >= EXAMPLES * 40
