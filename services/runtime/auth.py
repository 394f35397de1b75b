"""Principals, roles and three-tier region scoping (DESIGN §7), shared by every API.

A request carries `Authorization: Bearer <JWT>` (HS256, signed with the platform's token secret,
see `Settings.token_secret`): the access service issues them at login (`services.access`),
`fundwatch token` for scripts and tests. The claims name the user, the region code the user
belongs to, the responsible groups the user acts for and the user's roles. A province principal
sees every code under its two-digit prefix, a city its counties, a county itself; the Ministry
(000000) sees everything.

Dependencies, from most to least demanding:
- `require_roles(Role.x, …)`: one of those roles (403 naming them otherwise);
- `CurrentPrincipal`: a reader of fiscal data — any role but the system administrator's alone
  (who manages users and clients and reads no fiscal data: least privilege, seed 000 art. 25);
- `AuthenticatedPrincipal`: any valid token;
- `OptionalPrincipal`: none at all is fine (None), a bad one is not (status pages).
Every refusal is written to the audit log (`auth.failed`, `auth.denied`)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any

import jwt
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from contracts.audit import ActorKind, Outcome
from contracts.types import CENTRAL, check_text, parse_region, region_prefix, region_within
from services.runtime import audit
from services.runtime.settings import Settings, get_settings

TOKEN_ISSUER = "fundwatch"
ACCESS = "access"


class Role(StrEnum):
    """The roles of the seeds (000 arts. 12, 13, 18–22)."""

    treasury = "treasury"  # 国库组: watches streams, balances, alerts; confirms permission applications
    member = "member"  # 业务组/主管科室: verifies and disposes of its groups' alerts (谁主管、谁负责)
    rule_admin = "rule_admin"  # 上级财政 (upper bureau): configures rules for its region and below
    sysadmin = "sysadmin"  # 信息中心 (system administrator): users and upstream clients; grants permissions
    auditor = "auditor"  # 审计: reads everything in scope, the audit log included; changes nothing


ROLE_NAMES_ZH = {Role.treasury: "国库组", Role.member: "业务组/主管科室", Role.rule_admin: "规则管理员（上级财政）",
                 Role.sysadmin: "系统管理员（信息中心）", Role.auditor: "审计员（只读）"}
READ_ROLES = frozenset({Role.treasury, Role.member, Role.rule_admin, Role.auditor})
"""Who reads fiscal data in scope."""
ALL_GROUPS_ROLES = frozenset({Role.treasury, Role.rule_admin, Role.auditor})
"""Who sees every group's items in scope; a member alone sees its own groups'."""


@dataclass(frozen=True)
class Principal:
    """Who is asking: a user of one fiscal unit with roles, optionally acting for responsible groups."""

    user: str
    region: str
    groups: tuple[str, ...] = field(default_factory=tuple)
    roles: tuple[Role, ...] = field(default_factory=tuple)

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

    def has_role(self, *roles: Role) -> bool:
        return any(r in self.roles for r in roles)

    @property
    def group_filter(self) -> tuple[str, ...] | None:
        """The groups whose items this principal may see (None: every group in its scope)."""
        return None if self.has_role(*ALL_GROUPS_ROLES) else self.groups


def default_roles(groups: tuple[str, ...]) -> tuple[Role, ...]:
    """`fundwatch token` without --role: a member of the groups given, else a treasury operator."""
    return (Role.member,) if groups else (Role.treasury,)


def issue_token(settings: Settings, user: str, region: str, groups: tuple[str, ...] = (),
                ttl: dt.timedelta = dt.timedelta(hours=12), roles: tuple[Role | str, ...] | None = None) -> str:
    parse_region(region)
    now = dt.datetime.now(dt.UTC)
    claims = {"iss": TOKEN_ISSUER, "typ": ACCESS, "sub": user, "region": region, "groups": list(groups),
              "roles": [Role(r).value for r in (roles if roles is not None else default_roles(groups))],
              "iat": now, "exp": now + ttl, "jti": uuid.uuid4().hex}
    return jwt.encode(claims, settings.token_secret(), algorithm="HS256")


class TokenError(ValueError):
    pass


def _text_list(value: Any, what: str, limit: int) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and 0 < len(v) <= limit for v in value):
        raise TokenError(f"claim {what} must be a list of strings")
    for v in value:
        check_text(v)
    return tuple(value)


def verify_token(settings: Settings, token: str) -> Principal:
    """The principal of a valid access token. Refused: another algorithm than HS256 (`none`
    included), another key, expired or not yet valid, malformed, another issuer or token type,
    a missing or ill-typed claim, an unknown role."""
    try:
        claims = jwt.decode(token, settings.token_secret(), algorithms=["HS256"], issuer=TOKEN_ISSUER,
                            options={"require": ["iss", "sub", "region", "roles", "exp", "iat"]})
    except jwt.PyJWTError as exc:
        raise TokenError(str(exc)) from exc
    if claims.get("typ", ACCESS) != ACCESS:
        raise TokenError("not an access token")
    user, region = claims["sub"], claims["region"]
    if not isinstance(user, str) or not 0 < len(user) <= 100:
        raise TokenError("claim sub must be a user name")
    try:
        check_text(user)
        parse_region(region)
    except ValueError as exc:
        raise TokenError(str(exc)) from exc
    groups = _text_list(claims.get("groups") or [], "groups", 40)
    names = _text_list(claims["roles"], "roles", 20)
    unknown = [r for r in names if r not in Role.__members__]
    if unknown or not names:
        raise TokenError(f"unknown role {unknown[0]}" if unknown else "the token names no role")
    return Principal(user, region, groups, tuple(Role(r) for r in names))


def decode_token(settings: Settings, token: str) -> Principal:
    try:
        return verify_token(settings, token)
    except TokenError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"invalid token: {exc}",
                            headers={"WWW-Authenticate": "Bearer"}) from exc


def settings_of(request: Request) -> Settings:
    return getattr(request.app.state, "settings", None) or get_settings()


_bearer = HTTPBearer(auto_error=False, description="access token: POST /v1/login on the access service, or "
                                                   "`fundwatch token` for scripts")
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def _refuse(request: Request, code: int, reason: str, principal: Principal | None = None) -> HTTPException:
    if principal is None:
        await audit.record(request, "auth.failed", actor="anonymous", actor_kind=ActorKind.anonymous,
                           outcome=Outcome.refused, reason=reason, target=request.url.path)
    else:
        await audit.record(request, "auth.denied", actor=principal.user, region=principal.region,
                           outcome=Outcome.refused, reason=reason, target=f"{request.method} {request.url.path}")
    headers = {"WWW-Authenticate": "Bearer"} if code == status.HTTP_401_UNAUTHORIZED else None
    return HTTPException(code, reason, headers=headers)


async def optional_principal(request: Request, credentials: Bearer) -> Principal | None:
    if "authorization" not in request.headers:
        return None
    if credentials is None or not credentials.credentials:
        raise await _refuse(request, status.HTTP_401_UNAUTHORIZED, "Authorization must be 'Bearer <token>'")
    try:
        return verify_token(settings_of(request), credentials.credentials.strip())
    except TokenError as exc:
        raise await _refuse(request, status.HTTP_401_UNAUTHORIZED, f"invalid token: {exc}") from exc


async def authenticated_principal(request: Request, credentials: Bearer) -> Principal:
    principal = await optional_principal(request, credentials)
    if principal is None:
        raise await _refuse(request, status.HTTP_401_UNAUTHORIZED, "missing bearer token")
    return principal


AuthenticatedPrincipal = Annotated[Principal, Depends(authenticated_principal)]


def require_roles(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the authenticated principal if it holds one of `roles`, else 403 naming them."""
    wanted = ", ".join(f"{r.value} ({ROLE_NAMES_ZH[r]})" for r in roles)

    async def dependency(request: Request, principal: AuthenticatedPrincipal) -> Principal:
        if not principal.has_role(*roles):
            held = ", ".join(principal.roles) or "none"
            raise await _refuse(request, status.HTTP_403_FORBIDDEN, f"this needs the role {wanted}; yours: {held}",
                                principal)
        return principal

    dependency.__name__ = f"require_{'_or_'.join(r.value for r in roles)}"
    return dependency


current_principal = require_roles(*sorted(READ_ROLES))
CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]

__all__ = [
    "CENTRAL", "READ_ROLES", "AuthenticatedPrincipal", "CurrentPrincipal", "OptionalPrincipal", "Principal", "Role",
    "TokenError", "decode_token", "issue_token", "require_roles", "verify_token",
]
