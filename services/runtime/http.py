"""What every HTTP API puts in front of its routes: a body-size limit enforced while the body is
read (a 20 MB body is refused at the limit, not parsed whole first), a bound on JSON nesting
(422, where Python's parser would end in RecursionError), and bounded paging parameters."""

from __future__ import annotations

import json
import re
from array import array
from collections.abc import Mapping
from itertools import accumulate
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_OFFSET = 2**31 - 1
"""Larger offsets are refused (422): SQLite and PostgreSQL take 64-bit offsets, and an offset
above 2^63 used to end in an OverflowError (500)."""
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="rows to skip")]

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEPS = bytes.maketrans(b"[]{}", b"\x01\xff\x01\xff")  # as signed bytes: +1 opens, -1 closes
_CHUNK = 1 << 16


def _deeper_than(skeleton: bytes, max_depth: int) -> bool:
    """Does the running depth of a bracket skeleton pass `max_depth`? C-speed sums per chunk,
    stopping at the first chunk that does (a 16 MB wall of '[' is seen in the first 64 KB)."""
    depth = 0
    for start in range(0, len(skeleton), _CHUNK):
        steps = array("b", skeleton[start:start + _CHUNK].translate(_STEPS))
        if max(accumulate(steps, initial=depth)) > max_depth:
            return True
        depth += sum(steps)
    return False


def json_too_deep(body: bytes, max_depth: int) -> bool:
    """Does `body` nest arrays/objects deeper than `max_depth`? Brackets are counted first with
    strings left in (cheap: a 3 MB batch of events in ~2 ms); only when that says "too deep" are the
    strings dropped and the count repeated, so a '[' inside a string does not refuse a body.
    (Brackets in strings can also hide depth from the cheap count; the parsers are the backstop:
    ingest answers 422 on RecursionError, FastAPI 400.)"""
    if not _deeper_than(body.translate(None, _NOT_BRACKETS), max_depth):
        return False
    return _deeper_than(_STRING.sub(b"", body).translate(None, _NOT_BRACKETS), max_depth)


def _error(status: int, message: str, kind: str) -> tuple[int, bytes]:
    # FastAPI's 422 shape (detail: [{loc, msg, type}]) plus ingest's (errors: [{row, field, message, type}]).
    body: dict[str, Any] = {"detail": [{"loc": ["body"], "msg": message, "type": kind}],
                            "errors": [{"row": None, "field": "", "message": message, "type": kind}]}
    if status == 413:
        body = {"detail": message}
    return status, json.dumps(body).encode()


class BodyLimit:
    """ASGI middleware: 413 once a request body passes `max_bytes` (by Content-Length before
    reading, else while reading), 422 when a JSON body nests deeper than `max_depth`. Paths under a
    prefix of `streamed` (prefix → its own limit: file uploads) are not buffered: their body reaches
    the endpoint as a stream, cut off (413) at that prefix's limit."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_depth: int = 32,
                 paths: Mapping[str, int] | None = None, streamed: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth
        # larger limits for a few upload routes (path regex → bytes); everything else keeps max_bytes
        self.paths = [(re.compile(k), v) for k, v in (paths or {}).items()]
        self.streamed = dict(streamed or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        limit = next((n for pattern, n in self.paths if pattern.fullmatch(scope.get("path", ""))), self.max_bytes)
        length = headers.get(b"content-length")
        path = scope.get("path", "")
        streamed = next((n for prefix, n in self.streamed.items() if path.startswith(prefix)), None)
        if streamed is not None:
            await self._stream(scope, receive, send, streamed, length)
            return
        if length is not None and (not length.isdigit() or int(length) > limit):
            await self._answer(send, *_error(413, f"request body exceeds {limit} bytes", "too_large"))
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._answer(send, *_error(413, f"request body exceeds {limit} bytes", "too_large"))
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        is_json = b"json" in headers.get(b"content-type", b"application/json")
        if body and is_json and json_too_deep(body, self.max_depth):
            await self._answer(send, *_error(422, f"JSON nested deeper than {self.max_depth} levels", "json_too_deep"))
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # the app waits for a disconnect after the body
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _stream(self, scope: Scope, receive: Receive, send: Send, limit: int, length: bytes | None) -> None:
        if length is not None and (not length.isdigit() or int(length) > limit):
            await self._answer(send, *_error(413, f"request body exceeds {limit} bytes", "too_large"))
            return
        size = 0

        async def counted() -> Message:
            nonlocal size
            message = await receive()
            size += len(message.get("body", b""))
            if size > limit:  # the endpoint sees the client gone and answers nothing more
                raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)

    @staticmethod
    async def _answer(send: Send, status: int, body: bytes) -> None:
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def unprocessable(message: str, *loc: str) -> HTTPException:
    """A 422 in FastAPI's documented shape (detail: [{loc, msg, type}]), for checks made in code."""
    return HTTPException(422, [{"loc": ["body", *loc], "msg": message, "type": "value_error"}])


class Health(BaseModel):
    """What a status page tells an anonymous caller."""

    status: str = "ok"


class BodyTooLarge(Exception):
    """A streamed body passed its limit while the endpoint read it (the endpoint answers 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body exceeds {limit} bytes")
        self.limit = limit


def limit_bodies(app: FastAPI, max_bytes: int, max_depth: int = 32, paths: Mapping[str, int] | None = None,
                 streamed: Mapping[str, int] | None = None) -> FastAPI:
    """Put `BodyLimit` in front of `app` (one line in each service's `create_app`): `paths` (regex →
    bytes) buffered under a larger limit, `streamed` (prefix → bytes) passed through unbuffered."""
    app.add_middleware(BodyLimit, max_bytes=max_bytes, max_depth=max_depth, paths=paths, streamed=streamed)
    return app


__all__ = ["MAX_OFFSET", "BodyLimit", "BodyTooLarge", "Health", "Offset", "json_too_deep", "limit_bodies", "unprocessable"]
