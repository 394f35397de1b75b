"""The access service's use cases, one transaction each, every one audited in it (outbox): login,
refresh with rotation (a refresh token used twice revokes its whole login), logout, password
change, the art. 22 steps, session revocation, the first administrator.

A refusal is raised as `Denied` *after* its audit record (and, for a replayed refresh token, the
revocation of its login) is written: the caller commits the transaction and then answers."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from contracts.audit import ActorKind, Outcome
from contracts.types import CENTRAL, region_prefix
from services.access import credentials, domain, store
from services.access.domain import Actor, Application, Refused, Status, Step, User
from services.runtime import audit
from services.runtime.auth import Role, issue_token
from services.runtime.settings import Settings

SERVICE = "access"


class Denied(Exception):
    """A refused request whose audit record is written: commit, then answer `code`."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int
    user: User


async def _audit(conn: AsyncConnection, settings: Settings, action: str, *, actor: str, region: str,
                 ip: str | None, outcome: Outcome = Outcome.ok, actor_kind: ActorKind = ActorKind.user,
                 target: str | None = None, reason: str | None = None, **details: str) -> None:
    event = audit.audit_event(SERVICE, action, actor=actor, actor_kind=actor_kind, region=region, outcome=outcome,
                              target=target, reason=reason, ip=ip, details=details)
    await store.add_outgoing(conn, **audit.outgoing(settings, event))


async def _issue(conn: AsyncConnection, settings: Settings, user: User, family_id: str,
                 now: dt.datetime) -> tuple[Tokens, str]:
    token_id, refresh, token_hash = credentials.new_refresh_token()
    await store.add_refresh(conn, token_id=token_id, family_id=family_id, username=user.username,
                            token_hash=token_hash, issued_at=now,
                            expires_at=now + dt.timedelta(seconds=settings.refresh_token_ttl_s))
    access = issue_token(settings, user.username, user.region, user.groups,
                         ttl=dt.timedelta(seconds=settings.access_token_ttl_s), roles=user.roles)
    return Tokens(access, refresh, settings.access_token_ttl_s, settings.refresh_token_ttl_s, user), token_id


async def login(conn: AsyncConnection, settings: Settings, username: str, password: str, ip: str | None) -> Tokens:
    found = await store.get_user(conn, username) if domain.USERNAME_RE.fullmatch(username) else None
    user, stored = found if found else (None, None)
    ok = credentials.verify_password(password, stored)
    if not ok or user is None or not user.active:
        why = "wrong password" if user and not ok else "user disabled" if user else "unknown user"
        await _audit(conn, settings, "auth.failed", actor=username, actor_kind=ActorKind.anonymous,
                     region=user.region if user else CENTRAL, ip=ip, outcome=Outcome.refused,
                     target="login", reason=why)
        raise Denied(401, "invalid username or password")  # the same answer for every case: no enumeration
    now = store.utcnow()
    tokens, _ = await _issue(conn, settings, user, uuid.uuid4().hex, now)
    await _audit(conn, settings, "auth.login", actor=user.username, region=user.region, ip=ip, target="login")
    return tokens


async def refresh(conn: AsyncConnection, settings: Settings, token: str, ip: str | None) -> Tokens:
    """A new access token and a new refresh token; the presented one is used up."""
    token_id = credentials.refresh_id_of(token)
    row = await store.get_refresh(conn, token_id) if token_id else None
    now = store.utcnow()

    async def deny(reason: str, region: str = CENTRAL, actor: str = "anonymous") -> Denied:
        await _audit(conn, settings, "auth.failed", actor=actor, actor_kind=ActorKind.anonymous, region=region,
                     ip=ip, outcome=Outcome.refused, target="refresh", reason=reason)
        return Denied(401, reason)

    if row is None or not credentials.token_matches(token, row["token_hash"]):
        raise await deny("unknown refresh token")
    found = await store.get_user(conn, row["username"])
    user = found[0] if found else None
    region = user.region if user else CENTRAL
    if row["revoked_at"] is not None:
        if row["replaced_by"] is not None:  # used before: a stolen copy or a replay; end the whole login
            await store.revoke_family(conn, row["family_id"], now)
            raise await deny("refresh token already used: every session of this login is revoked, log in again",
                             region, row["username"])
        raise await deny("refresh token revoked (logged out)", region, row["username"])
    if now >= row["expires_at"]:
        raise await deny("refresh token expired: log in again", region, row["username"])
    if user is None or not user.active:
        await store.revoke_family(conn, row["family_id"], now)
        raise await deny("user disabled", region, row["username"])
    tokens, new_id = await _issue(conn, settings, user, row["family_id"], now)
    if not await store.retire_refresh(conn, row["token_id"], now, new_id):
        await store.revoke_family(conn, row["family_id"], now)
        raise await deny("refresh token already used: every session of this login is revoked, log in again",
                         region, row["username"])
    await _audit(conn, settings, "auth.refreshed", actor=user.username, region=user.region, ip=ip, target="refresh")
    return tokens


async def logout(conn: AsyncConnection, settings: Settings, token: str, ip: str | None) -> None:
    """End the login the refresh token belongs to (its access token runs out by itself)."""
    token_id = credentials.refresh_id_of(token)
    row = await store.get_refresh(conn, token_id) if token_id else None
    if row is None or not credentials.token_matches(token, row["token_hash"]):
        await _audit(conn, settings, "auth.failed", actor="anonymous", actor_kind=ActorKind.anonymous, region=CENTRAL,
                     ip=ip, outcome=Outcome.refused, target="logout", reason="unknown refresh token")
        raise Denied(401, "unknown refresh token")
    await store.revoke_family(conn, row["family_id"], store.utcnow())
    found = await store.get_user(conn, row["username"])
    await _audit(conn, settings, "auth.logout", actor=row["username"], region=found[0].region if found else CENTRAL,
                 ip=ip, target="logout")


async def change_password(conn: AsyncConnection, settings: Settings, username: str, old: str, new: str,
                          ip: str | None) -> None:
    found = await store.get_user(conn, username)
    if found is None or not credentials.verify_password(old, found[1]):
        await _audit(conn, settings, "user.password_changed", actor=username,
                     region=found[0].region if found else CENTRAL,
                     ip=ip, outcome=Outcome.refused, target=f"user {username}", reason="wrong current password")
        raise Denied(403, "the current password is wrong")
    try:
        domain.check_password(new)
    except Refused as exc:
        raise Denied(exc.code, exc.reason) from None
    await store.put_user(conn, found[0], credentials.hash_password(new))
    revoked = await store.revoke_sessions(conn, username, store.utcnow())
    await _audit(conn, settings, "user.password_changed", actor=username, region=found[0].region, ip=ip,
                 target=f"user {username}", sessions_revoked=str(revoked))


async def revoke_sessions(conn: AsyncConnection, settings: Settings, actor: Actor, username: str,
                          ip: str | None) -> int:
    found = await store.get_user(conn, username)
    if found is None or not found[0].region.startswith(_prefix(actor.region)):
        raise Denied(404, f"user {username} not found")
    revoked = await store.revoke_sessions(conn, username, store.utcnow())
    await _audit(conn, settings, "user.sessions_revoked", actor=actor.user, region=found[0].region, ip=ip,
                 target=f"user {username}", sessions=str(revoked))
    return revoked


def _prefix(region: str) -> str:
    return region_prefix(region)


_USER_ACTION = {domain.Kind.open: "user.opened", domain.Kind.change: "user.changed", domain.Kind.revoke: "user.revoked"}


async def apply(conn: AsyncConnection, settings: Settings, actor: Actor, form: Application,
                ip: str | None) -> Application:
    found = await store.get_user(conn, form.username)
    try:
        application = domain.apply(form, actor, found[0] if found else None)
    except Refused as exc:
        await _audit(conn, settings, f"application.{form.kind.value}", actor=actor.user, region=actor.region, ip=ip,
                     outcome=Outcome.refused, target=f"user {form.username}", reason=exc.reason)
        raise Denied(exc.code, exc.reason) from None
    await store.add_application(conn, application)
    await _audit(conn, settings, "application.applied", actor=actor.user, region=application.region, ip=ip,
                 target=f"{application.application_id} user {application.username}", kind=application.kind.value,
                 roles=",".join(application.requested.roles) if application.requested else "")
    return application


async def take_step(conn: AsyncConnection, settings: Settings, actor: Actor, application_id: str, step: Step,
                    note: str | None, ip: str | None) -> tuple[Application, str | None]:
    """The application after the step, and the initial password of a user it opened (shown once)."""
    application = await store.get_application(conn, application_id)
    if application is None or not application.region.startswith(_prefix(actor.region)):
        raise Denied(404, f"application {application_id} not found")
    try:
        after = domain.take(application, step, actor, store.utcnow(), note)
    except Refused as exc:
        await _audit(conn, settings, f"application.{step.value}", actor=actor.user, region=application.region,
                     ip=ip, outcome=Outcome.refused, target=application_id, reason=exc.reason)
        raise Denied(exc.code, exc.reason) from None
    if not await store.save_application(conn, after, application.status):
        raise Denied(409, f"application {application_id} was changed meanwhile; look again")
    password = None
    if after.status == Status.granted:
        found = await store.get_user(conn, after.username)
        try:
            user = domain.granted_user(after, found[0] if found else None)
        except Refused as exc:
            raise Denied(exc.code, exc.reason) from None
        if found is None:
            password = credentials.initial_password()
        await store.put_user(conn, user, credentials.hash_password(password) if password else None)
        if not user.active:
            await store.revoke_sessions(conn, user.username, store.utcnow())
        await _audit(conn, settings, _USER_ACTION[after.kind], actor=actor.user, region=user.region, ip=ip,
                     target=f"user {user.username}",
                     application=application_id, roles=",".join(user.roles), groups=",".join(user.groups))
    await _audit(conn, settings, f"application.{after.status.value}", actor=actor.user, region=after.region, ip=ip,
                 target=application_id)
    return after, password


async def create_admin(conn: AsyncConnection, settings: Settings, username: str, display_name: str, region: str,
                       password: str, *, force: bool = False, role: Role = Role.sysadmin) -> User:
    """The first system administrator (CLI) — or the first treasury operator, who must exist before
    any application can be confirmed: the only users not made by the art. 22 procedure."""
    if role not in (Role.sysadmin, Role.treasury):
        raise Denied(422, "the CLI creates only the first system administrator or treasury operator")
    if not force and await store.any_with_role(conn, role):
        raise Denied(409, f"an active user with the role {role.value} exists: further users go through the art. 22 "
                          "procedure (or pass --force)")
    if await store.get_user(conn, username) is not None:
        raise Denied(409, f"user {username} exists")
    try:
        domain.check_username(username)
        domain.check_password(password)
        domain.check_access(domain.Access(display_name, region, (role,)))
    except Refused as exc:
        raise Denied(exc.code, exc.reason) from None
    user = User(username, display_name, region, (role,))
    await store.put_user(conn, user, credentials.hash_password(password))
    await _audit(conn, settings, "user.opened", actor="cli", actor_kind=ActorKind.system, region=region, ip=None,
                 target=f"user {username}", roles=role.value, how="fundwatch user create-admin")
    return user


def new_application(kind: domain.Kind, username: str, unit: str, reason: str, requested: domain.Access | None,
                    actor: Actor) -> Application:
    return Application(f"APP-{uuid.uuid4().hex[:16]}", kind, username, unit, reason, requested, actor.user,
                       store.utcnow())


__all__ = ["Denied", "Tokens", "apply", "change_password", "create_admin", "login", "logout", "new_application",
           "refresh", "revoke_sessions", "take_step"]
