"""Who is signed in: the access service's tokens kept in HttpOnly cookies, refreshed through
POST /v1/refresh when the access token has run out, and the services' APIs called with them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

import httpx
from fastapi import Request

from services.runtime.auth import Principal, Role, TokenError, verify_token
from services.runtime.settings import Settings

ACCESS, REFRESH, NAME = "fw_access", "fw_refresh", "fw_name"


class LoginRequired(Exception):
    """No valid login: the page sends the browser to /login."""


@dataclass
class ApiError(Exception):
    status: int
    detail: Any

    @property
    def message(self) -> str:
        """The API's own words (a refusal of the state machine or a validation error), joined."""
        d = self.detail
        if isinstance(d, list):
            return "；".join(f"{'.'.join(str(x) for x in e.get('loc', [])[1:])}：{e.get('msg')}" if isinstance(e, dict)
                            else str(e) for e in d)
        return str(d)


@dataclass
class User:
    principal: Principal
    token: str
    display_name: str

    @property
    def roles(self) -> tuple[Role, ...]:
        return self.principal.roles

    def has(self, *roles: Role) -> bool:
        return self.principal.has_role(*roles)


class Api:
    """The services' APIs with the user's token; one shared HTTP client per console process."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self.settings, self.http = settings, http

    async def call(self, user: User | None, method: str, service: str, path: str, *,
                   params: dict[str, Any] | None = None, json: Any = None, files: Any = None) -> Any:
        r = await self.fetch(user, method, service, path, params=params, json=json, files=files)
        return r.json() if r.content else None

    async def fetch(self, user: User | None, method: str, service: str, path: str, *,
                    params: dict[str, Any] | None = None, json: Any = None, files: Any = None) -> httpx.Response:
        """The API's response itself (a download's bytes and headers); ApiError when it refused."""
        headers = {"Authorization": f"Bearer {user.token}"} if user else {}
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        r = await self.http.request(method, f"{self.settings.url(service)}{path}", params=clean, json=json,
                                    files=files, headers=headers)
        if r.status_code >= 400:
            try:
                detail = r.json().get("detail", r.text)
            except ValueError:
                detail = r.text
            raise ApiError(r.status_code, detail)
        return r

    async def get(self, user: User, service: str, path: str, **params: Any) -> Any:
        return await self.call(user, "GET", service, path, params=params)


def _user(settings: Settings, token: str | None, name: str | None) -> User | None:
    if not token:
        return None
    try:
        return User(verify_token(settings, token), token, unquote(name or ""))
    except TokenError:
        return None


async def current_user(request: Request) -> User:
    """The signed-in user; an expired access token is exchanged for new tokens once (rotating refresh)."""
    settings: Settings = request.app.state.settings
    cookies = request.cookies
    user = _user(settings, cookies.get(ACCESS), cookies.get(NAME))
    if user is not None:
        return user
    refresh = cookies.get(REFRESH)
    if not refresh:
        raise LoginRequired
    api: Api = request.app.state.api
    try:
        tokens = await api.call(None, "POST", "access", "/v1/refresh", json={"refresh_token": refresh})
    except ApiError as exc:
        raise LoginRequired from exc
    request.state.new_tokens = tokens
    user = _user(settings, tokens["access_token"], quote(tokens["user"]["display_name"]))
    if user is None:
        raise LoginRequired
    return user


def set_login(response, tokens: dict[str, Any]) -> None:
    common = {"httponly": True, "samesite": "strict", "path": "/"}
    response.set_cookie(ACCESS, tokens["access_token"], max_age=tokens["expires_in"], **common)
    response.set_cookie(REFRESH, tokens["refresh_token"], max_age=tokens["refresh_expires_in"], **common)
    response.set_cookie(NAME, quote(tokens["user"]["display_name"]), max_age=tokens["refresh_expires_in"], **common)


def clear_login(response) -> None:
    for name in (ACCESS, REFRESH, NAME):
        response.delete_cookie(name, path="/")
