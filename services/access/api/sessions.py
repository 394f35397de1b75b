"""Login (short-lived access token + rotating refresh token), refresh, logout, who am I, password."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Request, status
from pydantic import BaseModel, Field

from services.access import service
from services.access.api.deps import in_transaction
from services.access.domain import User
from services.runtime.audit import client_ip
from services.runtime.auth import AuthenticatedPrincipal

router = APIRouter(tags=["sessions"])


class UserOut(BaseModel):
    username: str
    display_name: str
    region: str
    roles: list[str]
    groups: list[str]
    active: bool

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(username=user.username, display_name=user.display_name, region=user.region,
                   roles=list(user.roles), groups=list(user.groups), active=user.active)


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=128)


class RefreshIn(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=200)


class TokensOut(BaseModel):
    access_token: str = Field(description="JWT (HS256) for `Authorization: Bearer …` on every API")
    token_type: str = "bearer"
    expires_in: int = Field(description="seconds the access token is valid")
    refresh_token: str = Field(description="for POST /v1/refresh, once: each refresh returns a new one")
    refresh_expires_in: int
    user: UserOut

    @classmethod
    def of(cls, t: service.Tokens) -> TokensOut:
        return cls(access_token=t.access_token, expires_in=t.expires_in, refresh_token=t.refresh_token,
                   refresh_expires_in=t.refresh_expires_in, user=UserOut.of(t.user))


class PasswordIn(BaseModel):
    current_password: str = Field(min_length=1, max_length=128)
    new_password: str = Field(min_length=1, max_length=128)


class Me(BaseModel):
    user: str
    region: str
    roles: list[str]
    groups: list[str]


class Throttle:
    """At most `limit` failed logins per user name and per client address within `window_s`
    (in this process): then 429 until the oldest failure leaves the window."""

    def __init__(self, limit: int = 5, window_s: float = 900.0) -> None:
        self.limit, self.window_s = limit, window_s
        self.failures: defaultdict[str, deque[float]] = defaultdict(deque)

    def wait_s(self, *keys: str) -> float:
        now = time.monotonic()
        longest = 0.0
        for key in keys:
            times = self.failures[key]
            while times and now - times[0] > self.window_s:
                times.popleft()
            if len(times) >= self.limit:
                longest = max(longest, self.window_s - (now - times[0]))
        return longest

    def failed(self, *keys: str) -> None:
        for key in keys:
            self.failures[key].append(time.monotonic())


@router.post("/v1/login", response_model=TokensOut, summary="log in: an access token and a refresh token")
async def login(body: Annotated[LoginIn, Body()], request: Request) -> TokensOut:
    throttle: Throttle = request.app.state.throttle
    keys = (f"user:{body.username}", f"ip:{client_ip(request)}")
    wait = throttle.wait_s(*keys)
    if wait:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, f"too many failed logins; try again in {wait:.0f} s",
                            headers={"Retry-After": str(int(wait) + 1)})
    settings = request.app.state.settings
    try:
        tokens = await in_transaction(request, lambda tx: service.login(tx, settings, body.username, body.password,
                                                                        client_ip(request)))
    except HTTPException:
        throttle.failed(*keys)
        raise
    return TokensOut.of(tokens)


@router.post("/v1/refresh", response_model=TokensOut, summary="new tokens for a refresh token (used up by it)")
async def refresh(body: Annotated[RefreshIn, Body()], request: Request) -> TokensOut:
    settings = request.app.state.settings
    tokens = await in_transaction(request, lambda tx: service.refresh(tx, settings, body.refresh_token,
                                                                      client_ip(request)))
    return TokensOut.of(tokens)


@router.post("/v1/logout", status_code=status.HTTP_204_NO_CONTENT, summary="end the login of a refresh token")
async def logout(body: Annotated[RefreshIn, Body()], request: Request) -> None:
    settings = request.app.state.settings
    await in_transaction(request, lambda tx: service.logout(tx, settings, body.refresh_token, client_ip(request)))


@router.get("/v1/me", response_model=Me, summary="who the token says you are")
async def me(principal: AuthenticatedPrincipal) -> Me:
    return Me(user=principal.user, region=principal.region, roles=list(principal.roles), groups=list(principal.groups))


@router.post("/v1/me/password", status_code=status.HTTP_204_NO_CONTENT,
             summary="change your password (every other login ends)")
async def change_password(body: Annotated[PasswordIn, Body()], principal: AuthenticatedPrincipal,
                          request: Request) -> None:
    settings = request.app.state.settings
    await in_transaction(request, lambda tx: service.change_password(
        tx, settings, principal.user, body.current_password, body.new_password, client_ip(request)))
