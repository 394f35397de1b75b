"""A real HTTP webhook receiver for notification tests (notify's own and end to end)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


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

    def payloads(self) -> list[dict]:
        """JSON bodies of the accepted POSTs."""
        return [json.loads(r.body) for r in self.accepted]

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
