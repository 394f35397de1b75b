"""Principals and three-tier region scoping (DESIGN §7), shared by every query API.

A request carries `Authorization: Bearer <JWT>` (HS256, signed with FUNDWATCH_AUTH_SECRET)
whose claims name the user, the region code the user belongs to and, optionally, the
responsible groups the user acts for. A province principal sees every code under its two-digit
prefix, a city its counties, a county itself; the Ministry (000000) sees everything."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Annotated

import jwt
from fastapi import Depends, HTTPException, Request, status

from contracts.types import _check_region, region_prefix, region_within
from services.runtime.settings import Settings, get_settings


@dataclass(frozen=True)
class Principal:
    """Who is asking: a user of one fiscal unit, optionally acting for responsible groups."""

    user: str
    region: str
    groups: tuple[str, ...] = field(default_factory=tuple)

    @property
    def prefix(self) -> str:
        return region_prefix(self.region)

    def can_see(self, region: str) -> bool:
        return region_within(region, self.region)

    def scope(self, requested: str | None) -> str:
        """The region a query runs under: the requested one if inside the principal's scope,
        else 403; the principal's own region when nothing was requested."""
        if requested is None:
            return self.region
        if not self.can_see(requested):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"region {requested} is outside your scope {self.region}")
        return requested


def issue_token(settings: Settings, user: str, region: str, groups: tuple[str, ...] = (),
                ttl: dt.timedelta = dt.timedelta(hours=12)) -> str:
    _check_region(region)
    now = dt.datetime.now(dt.UTC)
    claims = {"sub": user, "region": region, "groups": list(groups), "iat": now, "exp": now + ttl}
    return jwt.encode(claims, settings.auth_secret.get_secret_value(), algorithm="HS256")


def decode_token(settings: Settings, token: str) -> Principal:
    try:
        claims = jwt.decode(token, settings.auth_secret.get_secret_value(), algorithms=["HS256"],
                            options={"require": ["sub", "region", "exp"]})
        _check_region(claims["region"])
    except (jwt.PyJWTError, ValueError) as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"invalid token: {exc}",
                            headers={"WWW-Authenticate": "Bearer"}) from exc
    return Principal(claims["sub"], claims["region"], tuple(claims.get("groups") or ()))


def _settings_of(request: Request) -> Settings:
    return getattr(request.app.state, "settings", None) or get_settings()


async def current_principal(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer token",
                            headers={"WWW-Authenticate": "Bearer"})
    return decode_token(_settings_of(request), token.strip())


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
