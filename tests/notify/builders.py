"""Event builders and a real HTTP webhook receiver for the notify tests."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from contracts.alert import AlertLevel, AlertTransitioned, AlertTransitionKind
from contracts.envelope import Envelope, make_event
from contracts.reference import GroupAssigned

NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


def alert_event(region: str = "410324", *, fund_code: str | None = "F-AGRI", group_code: str | None = None,
                level: AlertLevel = AlertLevel.yellow, rule_id: str = "USE-05", alert_id: str | None = None,
                shadow: bool = False) -> Envelope:
    alert_id = alert_id or f"alert-{uuid.uuid4().hex[:12]}"
    data = AlertTransitioned(
        alert_id=alert_id, transition_id=f"{alert_id}-1", transition=AlertTransitionKind.raised,
        rule_id=rule_id, category="fund usage", title_zh="重复支付", title_en="Duplicate payment",
        subject="payment:P-0001", level=level, fund_code=fund_code, group_code=group_code, at=NOW, shadow=shadow,
    )
    return make_event("alert.transitioned", data, id=f"evt-{uuid.uuid4().hex}", region=region, time=NOW,
                      source="/fundwatch/alerts", subject=alert_id)


def group_event(scope_region: str, group_code: str, group_name: str, fund_codes: list[str] | None = None) -> Envelope:
    data = GroupAssigned(group_code=group_code, group_name=group_name, fund_codes=fund_codes or [])
    return make_event("group.assigned", data, id=f"evt-{uuid.uuid4().hex}", region=scope_region, time=NOW,
                      source="/registry/groups")


@dataclass
class Received:
    status: int
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A real webhook endpoint on a free port: answers 500 to the first `fail_first` POSTs (to
    every POST when None), 200 afterwards, and records each request with its answer."""

    def __init__(self, fail_first: int | None) -> None:
        self.fail_first = fail_first
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                status = receiver._answer({k.lower(): v for k, v in self.headers.items()}, body)
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"no")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        """The configured webhook URL (with a token, which must never leave notify)."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook?token=secret"

    @property
    def accepted(self) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.status == 200]

    def _answer(self, headers: dict[str, str], body: bytes) -> int:
        with self._lock:
            failing = self.fail_first is None or len(self.requests) < self.fail_first
            status = 500 if failing else 200
            self.requests.append(Received(status, headers, body))
            return status

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
