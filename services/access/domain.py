"""Users, roles and the permission procedure of seed 000 art. 22 — pure functions over plain data.

Art. 22: a unit (科室单位 or county) that needs a user opened, changed or revoked fills in the
application form (申请, 附件3) and sends it to the treasury group; the treasury group checks that
it is complete and proper (确认) and passes it to the information centre; the information centre
grants the permission (开通) and tells the unit. So:

    applied ──confirm (treasury)──▶ confirmed ──grant (sysadmin)──▶ granted
       └──reject (treasury)──▶ rejected ◀──reject (sysadmin)──┘

Each step by its role, within the step-taker's region, by another person than the steps before
(four eyes); anything else is refused with the reason. Granting is what changes the user."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field, replace
from enum import StrEnum

from contracts.types import check_text, parse_region, region_within
from services.runtime.auth import ROLE_NAMES_ZH, Role

USERNAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{2,63}", re.ASCII)
GROUP_RE = re.compile(r"[A-Za-z0-9_.-]{1,40}", re.ASCII)
MIN_PASSWORD = 12


class Kind(StrEnum):
    open = "open"  # 开通
    change = "change"  # 变更
    revoke = "revoke"  # 撤销


class Status(StrEnum):
    applied = "applied"  # 已申请
    confirmed = "confirmed"  # 国库组已确认
    granted = "granted"  # 已开通 / 已变更 / 已撤销
    rejected = "rejected"  # 退回


class Step(StrEnum):
    confirm = "confirm"
    grant = "grant"
    reject = "reject"


@dataclass(frozen=True)
class Actor:
    """Who takes a step (the principal of the request, as plain data)."""

    user: str
    region: str
    roles: tuple[Role, ...]


@dataclass(frozen=True)
class User:
    username: str
    display_name: str
    region: str
    roles: tuple[Role, ...]
    groups: tuple[str, ...] = ()
    active: bool = True


@dataclass(frozen=True)
class Access:
    """What an application asks for: the user's region, roles and groups after it."""

    display_name: str
    region: str
    roles: tuple[Role, ...]
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Application:
    application_id: str
    kind: Kind
    username: str
    unit: str  # 申请单位
    reason: str
    requested: Access | None  # None for a revocation
    applied_by: str
    applied_at: dt.datetime
    status: Status = Status.applied
    confirmed_by: str | None = None
    confirmed_at: dt.datetime | None = None
    decided_by: str | None = None
    decided_at: dt.datetime | None = None
    note: str | None = None
    history: tuple[tuple[str, str, dt.datetime], ...] = field(default_factory=tuple)  # (step, actor, at)

    @property
    def region(self) -> str:
        """Where the application belongs (whose treasury group and administrator decide)."""
        return self.requested.region if self.requested else ""


class Refused(Exception):
    """A step that is not allowed: `code` 403 (role or scope), 409 (state), 422 (content)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _zh(role: Role) -> str:
    return f"{role.value} ({ROLE_NAMES_ZH[role]})"


def _text(value: str, what: str, multiline: bool = False) -> str:
    try:
        return check_text(value, multiline=multiline)
    except ValueError as exc:
        raise Refused(422, f"{what}: {exc}") from None


def check_username(username: str) -> str:
    if not USERNAME_RE.fullmatch(username):
        raise Refused(422, "username: 3–64 of A–Z a–z 0–9 _ . @ -, starting with a letter or digit")
    return username


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= 128:
        raise Refused(422, f"password: {MIN_PASSWORD} to 128 characters")
    if len(set(password)) < 5:
        raise Refused(422, "password: too simple (at least 5 different characters)")
    return password


def check_access(access: Access) -> Access:
    """The form is complete and proper (规范性): a region code, known roles, groups for members."""
    try:
        parse_region(access.region)
    except ValueError as exc:
        raise Refused(422, f"region: {exc}") from None
    _text(access.display_name, "display_name")
    if not access.display_name.strip() or len(access.display_name) > 60:
        raise Refused(422, "display_name: 1–60 characters")
    if not access.roles:
        raise Refused(422, "roles: at least one of " + ", ".join(r.value for r in Role))
    bad = [g for g in access.groups if not GROUP_RE.fullmatch(g)]
    if bad:
        raise Refused(422, f"groups: {bad[0]!r} is not a group code")
    if Role.member in access.roles and not access.groups:
        raise Refused(422, "a member (业务组/主管科室) acts for at least one responsible group: name its groups")
    return access


def apply(application: Application, actor: Actor, existing: User | None) -> Application:
    """File an application (申请). Any user may apply for a user of their own region or below."""
    check_username(application.username)
    _text(application.unit, "unit")
    _text(application.reason, "reason", multiline=True)
    if not application.unit.strip():
        raise Refused(422, "unit: the applying unit (申请单位) is required")
    if application.kind == Kind.open:
        if application.requested is None:
            raise Refused(422, "an application to open a user says what it asks for")
        check_access(application.requested)
        if not region_within(application.region, actor.region):
            raise Refused(403, f"region {application.region} is outside your scope {actor.region}: a unit applies "
                               "for users of its own region and below")
        if existing is not None:
            raise Refused(409, f"user {application.username} exists: apply for a change instead")
    else:
        if existing is None:
            raise Refused(404, f"user {application.username} not found")
        if not region_within(existing.region, actor.region):
            raise Refused(404, f"user {application.username} not found")
        if application.kind == Kind.change:
            if application.requested is None:
                raise Refused(422, "an application to change a user says what it asks for")
            check_access(application.requested)
        elif not existing.active:
            raise Refused(409, f"user {application.username} is already revoked")
        else:
            application = replace(application, requested=Access(existing.display_name, existing.region,
                                                                 existing.roles, existing.groups))
    if not region_within(application.region, actor.region):
        raise Refused(403, f"region {application.region} is outside your scope {actor.region}: a unit applies "
                           "for users of its own region and below")
    return replace(application, status=Status.applied,
                   history=((Status.applied.value, actor.user, application.applied_at),))


_STEP = {
    Step.confirm: (Role.treasury, (Status.applied,), Status.confirmed,
                   "the treasury group (国库组) confirms an application (art. 22 (二))"),
    Step.grant: (Role.sysadmin, (Status.confirmed,), Status.granted,
                 "the information centre (系统管理员) grants a confirmed application (art. 22 (三))"),
}


def take(application: Application, step: Step, actor: Actor, at: dt.datetime, note: str | None = None) -> Application:
    """The application after `step` by `actor`, or Refused with the reason."""
    if note is not None:
        _text(note, "note", multiline=True)
    if step == Step.reject:
        role = Role.treasury if application.status == Status.applied else Role.sysadmin
        if application.status not in (Status.applied, Status.confirmed):
            raise Refused(409, f"application {application.application_id} is {application.status.value}: "
                               "only an open application can be rejected")
        if not note:
            raise Refused(422, "note: a rejection says why (it goes back to the unit)")
        target = Status.rejected
        rule = f"at this stage ({application.status.value}) an application is rejected by {_zh(role)}"
        allowed: tuple[Status, ...] = (application.status,)
    else:
        role, allowed, target, rule = _STEP[step]
    if role not in actor.roles:
        raise Refused(403, f"{rule}; this needs the role {_zh(role)}, yours: {', '.join(actor.roles) or 'none'}")
    if not region_within(application.region, actor.region):
        raise Refused(403, f"application {application.application_id} is for region {application.region}, "
                           f"outside your scope {actor.region}")
    if application.status not in allowed:
        before = {Step.confirm: "applied", Step.grant: "confirmed by the treasury group first"}[step]
        raise Refused(409, f"application {application.application_id} is {application.status.value}; it must be "
                           f"{before} ({rule})")
    earlier = {application.applied_by, application.confirmed_by} - {None}
    if actor.user in earlier:
        raise Refused(403, f"{actor.user} already took a step on application {application.application_id}: "
                           "applying, confirming and granting are done by different people")
    history = (*application.history, (target.value, actor.user, at))
    if target == Status.confirmed:
        return replace(application, status=target, confirmed_by=actor.user, confirmed_at=at, history=history)
    return replace(application, status=target, decided_by=actor.user, decided_at=at, note=note, history=history)


def granted_user(application: Application, existing: User | None) -> User:
    """What a granted application makes of the user."""
    if application.status != Status.granted:
        raise Refused(409, f"application {application.application_id} is not granted")
    if application.kind == Kind.revoke:
        if existing is None:
            raise Refused(404, f"user {application.username} not found")
        return replace(existing, active=False)
    assert application.requested is not None
    if application.kind == Kind.open and existing is not None:
        raise Refused(409, f"user {application.username} exists")
    if application.kind == Kind.change and existing is None:
        raise Refused(404, f"user {application.username} not found")
    a = application.requested
    return User(application.username, a.display_name, a.region, a.roles, a.groups, True)
