"""The permission procedure of seed 000 art. 22: a unit applies (申请) to open, change or revoke a
user; the treasury group confirms (确认); the information centre grants (开通). Each step by its
role, in its region, by another person; illegal steps are refused with the reason."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Body, HTTPException, Query, Request, status
from pydantic import BaseModel, Field

from services.access import service, store
from services.access.api.deps import actor_of, in_transaction
from services.access.domain import Access, Application, Kind, Step
from services.runtime.audit import client_ip
from services.runtime.auth import AuthenticatedPrincipal, Role
from services.runtime.http import Offset

router = APIRouter(prefix="/v1/applications", tags=["applications (art. 22)"])


class AccessIn(BaseModel):
    display_name: str = Field(min_length=1, max_length=60)
    region: str = Field(pattern=r"^[0-9]{6}([0-9]{3}){0,2}$")
    roles: list[Role] = Field(min_length=1, max_length=5)
    groups: list[str] = Field(default_factory=list, max_length=20)


class ApplicationIn(BaseModel):
    """The user-permission application form (用户权限申请表, 附件3)."""

    kind: Kind = Field(description="open (开通), change (变更) or revoke (撤销)")
    username: str = Field(min_length=1, max_length=64)
    unit: str = Field(min_length=1, max_length=120, description="申请单位, e.g. 栾川县财政局农业股")
    reason: str = Field("", max_length=1000)
    requested: AccessIn | None = Field(None, description="the user's region, roles and groups after it "
                                                         "(not for a revocation)")


class StepOut(BaseModel):
    status: str
    actor: str
    at: dt.datetime


class ApplicationOut(BaseModel):
    application_id: str
    kind: Kind
    username: str
    region: str
    unit: str
    reason: str
    requested: AccessIn | None
    status: Literal["applied", "confirmed", "granted", "rejected"]
    applied_by: str
    applied_at: dt.datetime
    confirmed_by: str | None
    confirmed_at: dt.datetime | None
    decided_by: str | None
    decided_at: dt.datetime | None
    note: str | None
    history: list[StepOut]

    @classmethod
    def of(cls, a: Application) -> ApplicationOut:
        r = a.requested
        return cls(application_id=a.application_id, kind=a.kind, username=a.username, region=a.region, unit=a.unit,
                   reason=a.reason, requested=AccessIn(display_name=r.display_name, region=r.region,
                                                       roles=list(r.roles), groups=list(r.groups)) if r else None,
                   status=a.status.value, applied_by=a.applied_by, applied_at=a.applied_at,
                   confirmed_by=a.confirmed_by, confirmed_at=a.confirmed_at, decided_by=a.decided_by,
                   decided_at=a.decided_at, note=a.note,
                   history=[StepOut(status=s, actor=who, at=at) for s, who, at in a.history])


class ApplicationPage(BaseModel):
    items: list[ApplicationOut]
    total: int


class StepIn(BaseModel):
    note: str | None = Field(None, max_length=1000, description="what the step-taker says (a rejection must)")


class Granted(BaseModel):
    application: ApplicationOut
    initial_password: str | None = Field(None, description="a newly opened user's one-time password, shown once: "
                                                           "hand it over (反馈开通信息); the user changes it")


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ApplicationOut, summary="申请: apply")
async def apply(body: Annotated[ApplicationIn, Body()], principal: AuthenticatedPrincipal,
                request: Request) -> ApplicationOut:
    r = body.requested
    requested = Access(r.display_name, r.region, tuple(r.roles), tuple(r.groups)) if r else None
    actor = actor_of(principal)
    form = service.new_application(body.kind, body.username, body.unit, body.reason, requested, actor)
    settings = request.app.state.settings
    a = await in_transaction(request, lambda tx: service.apply(tx, settings, actor, form, client_ip(request)))
    return ApplicationOut.of(a)


@router.get("", response_model=ApplicationPage, summary="applications of your region and below")
async def list_applications(principal: AuthenticatedPrincipal, request: Request,
                            status_: Annotated[Literal["applied", "confirmed", "granted", "rejected"] | None,
                                               Query(alias="status")] = None,
                            limit: Annotated[int, Query(ge=1, le=500)] = 100, offset: Offset = 0) -> ApplicationPage:
    async with request.app.state.engine.connect() as conn:
        page = await store.list_applications(conn, principal.prefix, status_, limit, offset)
    return ApplicationPage(items=[ApplicationOut.of(a) for a in page.items], total=page.total)


@router.get("/{application_id}", response_model=ApplicationOut, summary="one application and its history")
async def get_application(application_id: str, principal: AuthenticatedPrincipal, request: Request) -> ApplicationOut:
    async with request.app.state.engine.connect() as conn:
        a = await store.get_application(conn, application_id)
    if a is None or not principal.can_see(a.region):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"application {application_id} not found")
    return ApplicationOut.of(a)


async def _step(request: Request, principal: AuthenticatedPrincipal, application_id: str, step: Step,
                note: str | None) -> tuple[Application, str | None]:
    settings = request.app.state.settings
    return await in_transaction(request, lambda tx: service.take_step(tx, settings, actor_of(principal),
                                                                      application_id, step, note, client_ip(request)))


@router.post("/{application_id}/confirm", response_model=ApplicationOut, summary="确认: the treasury group confirms")
async def confirm(application_id: str, principal: AuthenticatedPrincipal, request: Request,
                  body: Annotated[StepIn | None, Body()] = None) -> ApplicationOut:
    a, _ = await _step(request, principal, application_id, Step.confirm, body.note if body else None)
    return ApplicationOut.of(a)


@router.post("/{application_id}/grant", response_model=Granted, summary="开通: the administrator grants")
async def grant(application_id: str, principal: AuthenticatedPrincipal, request: Request,
                body: Annotated[StepIn | None, Body()] = None) -> Granted:
    a, password = await _step(request, principal, application_id, Step.grant, body.note if body else None)
    return Granted(application=ApplicationOut.of(a), initial_password=password)


@router.post("/{application_id}/reject", response_model=ApplicationOut,
             summary="退回: the treasury group (applied) or the administrator (confirmed) rejects, saying why")
async def reject(application_id: str, principal: AuthenticatedPrincipal, request: Request,
                 body: Annotated[StepIn | None, Body()] = None) -> ApplicationOut:
    a, _ = await _step(request, principal, application_id, Step.reject, body.note if body else None)
    return ApplicationOut.of(a)
