"""Real receivers for notify's channels, each checking the wire format its real counterpart
documents and recording what it accepted: HTTP servers on free ports, an aiosmtpd SMTP server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from services.runtime.broker import free_port


@dataclass
class Request:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpReceiver:
    """`check(request)` returns (status, answer JSON) — the receiver's own validation."""

    kind: str
    secret: str | None = None
    per_minute: int | None = None  # robots: 20 unless given; other receivers: no limit
    accepted: list[Request] = field(default_factory=list)
    refused: list[tuple[Request, str]] = field(default_factory=list)
    clock_offset_s: float = 0.0  # a test moves the receiver's clock as it moves notify's record of sends

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._times: list[float] = []
        if self.per_minute is None:
            self.per_minute = 20 if self.kind in ("wecom", "dingtalk") else 1 << 30
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                parts = urllib.parse.urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                request = Request(parts.path, dict(urllib.parse.parse_qsl(parts.query)),
                                  {k.lower(): v for k, v in self.headers.items()}, body)
                status, answer = receiver.receive(request)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        port = self.server.server_address[1]
        return {"wecom": f"http://127.0.0.1:{port}/cgi-bin/webhook/send?key=robot-key",
                "dingtalk": f"http://127.0.0.1:{port}/robot/send?access_token=robot-token",
                "alertmanager": f"http://127.0.0.1:{port}/alertmanager",
                "webhook": f"http://127.0.0.1:{port}/hook"}[self.kind]

    def receive(self, request: Request) -> tuple[int, dict]:
        with self._lock:
            reason = self._check(request)
            if reason is None:
                now = time.monotonic() + self.clock_offset_s
                self._times = [t for t in self._times if now - t < 60]
                if len(self._times) >= (self.per_minute or 0):
                    reason = "too many messages this minute"
                else:
                    self._times.append(now)
            if reason is not None:
                self.refused.append((request, reason))
                if self.kind in ("wecom", "dingtalk"):  # robots answer 200 with an error code
                    return 200, {"errcode": 45009 if self.kind == "wecom" else 130101, "errmsg": reason}
                return 400, {"error": reason}
            self.accepted.append(request)
            return 200, {"errcode": 0, "errmsg": "ok"}

    def _check(self, r: Request) -> str | None:
        if r.headers.get("content-type", "").split(";")[0] != "application/json":
            return "content-type must be application/json"
        try:
            body = r.json()
        except ValueError:
            return "body is not JSON"
        if self.kind == "wecom":
            if r.query.get("key") != "robot-key":
                return "invalid webhook key"
            if body.get("msgtype") != "markdown" or not isinstance(body.get("markdown", {}).get("content"), str):
                return "expected msgtype markdown with markdown.content"
            if len(body["markdown"]["content"].encode()) > 4096:
                return "markdown.content exceeds 4096 bytes"
        elif self.kind == "dingtalk":
            timestamp, sign = r.query.get("timestamp", ""), r.query.get("sign", "")
            assert self.secret
            expected = base64.b64encode(hmac.new(self.secret.encode(), f"{timestamp}\n{self.secret}".encode(),
                                                 hashlib.sha256).digest()).decode()
            if not timestamp.isdigit() or abs(time.time() * 1000 - int(timestamp)) > 3600_000:
                return "timestamp missing or more than an hour off"
            if not hmac.compare_digest(sign, expected):  # parse_qsl has URL-decoded it
                return "sign mismatch"
            md = body.get("markdown", {})
            if body.get("msgtype") != "markdown" or not md.get("title") or not md.get("text"):
                return "expected msgtype markdown with title and text"
        elif self.kind == "alertmanager":
            keys = {"version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels", "commonLabels",
                    "commonAnnotations", "externalURL", "alerts"}
            if body.get("version") != "4" or set(body) != keys:
                return f"not an Alertmanager v4 payload: {sorted(body)}"
            for a in body["alerts"]:
                if set(a) != {"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"}:
                    return f"alert keys {sorted(a)}"
                if a["status"] not in ("firing", "resolved") or "alertname" not in a["labels"]:
                    return "alert status or alertname"
        elif self.kind == "webhook":
            assert self.secret
            try:
                Webhook(self.secret).verify(r.body.decode(), r.headers)
            except WebhookVerificationError as exc:
                return f"signature: {exc}"
        return None

    def bodies(self) -> list[Any]:
        with self._lock:
            return [r.json() for r in self.accepted]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SmtpReceiver:
    """A real SMTP server (aiosmtpd) on a free port, keeping each message it accepted."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        receiver = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                receiver.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
                receiver.messages.append(message_from_bytes(envelope.content, policy=policy.default))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def close(self) -> None:
        self.controller.stop()
