"""The errors every service's OpenAPI documents, in one shape and by one rule: 401 (and 403) on an
operation that takes a bearer credential, 404 where the path names something, 422 where there is
input, and what an operation gives besides (409, 413, …) as each service says; one `Problem`
body for all of them (what HTTPException and the 422 handlers answer)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

PROBLEM = "#/components/schemas/Problem"
ERROR_CODES = ("400", "401", "403", "404", "409", "413", "415", "422", "429", "503")
VERSION = "1"
"""The one version of every service's API: the /v1 of its paths."""


class Problem(BaseModel):
    """An error: `detail` says what (a sentence, or FastAPI's list of {loc, msg, type}); `errors`
    (ingest) name row and field."""

    detail: str | list[dict[str, Any]]
    errors: list[dict[str, Any]] | None = None


def problem(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": PROBLEM}}}}


Extra = Mapping[str, Mapping[str, str]]
"""'METHOD /path' → {status code: description}: the errors an operation gives besides the rule's."""


def document_errors(doc: dict, extra: Extra | None = None, *, forbidden: Callable[[str], bool] | None = None) -> dict:
    """Add the errors to `doc` (in place; also returned). `forbidden(path)`: does a secured
    operation there answer 403 (default: all but the status page, which answers anyone)?"""
    extra = extra or {}
    forbidden = forbidden or (lambda path: not path.endswith("/status"))
    components = doc.setdefault("components", {})
    components.setdefault("schemas", {})["Problem"] = Problem.model_json_schema()
    for scheme in components.get("securitySchemes", {}).values():
        if scheme.get("scheme") == "bearer":
            scheme.setdefault("description", "an access token: POST /v1/login on the access service")
    for path, operations in doc.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            if "security" in operation:
                responses.setdefault("401", problem("no valid credential (missing, malformed, expired or revoked)"))
                if forbidden(path):
                    responses.setdefault("403", problem("outside your region scope or roles"))
            if "{" in path:
                responses.setdefault("404", problem("not found (or not in your region)"))
            if "requestBody" in operation or operation.get("parameters"):
                responses.setdefault("422", problem("invalid input, naming the field"))
            for code, description in extra.get(f"{method.upper()} {path}", {}).items():
                responses[str(code)] = {**responses.get(str(code), {}), **problem(description)}
            for code, body in responses.items():
                if code in ERROR_CODES:
                    body.setdefault("content", {"application/json": {"schema": {"$ref": PROBLEM}}})
    return doc


def documented(app: FastAPI, extra: Extra | None = None) -> FastAPI:
    """`app.openapi` with the errors documented (one line in each service's `create_app`)."""

    def openapi() -> dict:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            app.openapi_schema = document_errors(doc, extra)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
