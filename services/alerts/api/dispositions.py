"""Dispositions (处理单): filed by the responsible group, applied by the state machine.

The API checks scope and responsibility, refuses what the alert's current state obviously
does not allow (409, the state machine's own rule), records the disposition as `filed` and
publishes `alert.disposition_filed` through the outbox (one transaction), then answers 202
with the command id. The faust state machine applies it — the only writer of alert state — or
refuses it (`alert.disposition_refused`); either outcome shows on the disposition and the alert."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, HTTPException, Request, status
from pydantic import BaseModel, Field, ValidationError

from contracts.control import CorrectiveAction, DispositionAction, DispositionFiled, VerificationMethod
from contracts.envelope import make_event
from contracts.topics import Family
from services.alerts import store
from services.alerts.api.alerts import DispositionOut, _utc
from services.alerts.api.attachments import check_references
from services.alerts.api.deps import Conn, visible_alert
from services.alerts.lifecycle import AlertState, check_disposition
from services.runtime import audit
from services.runtime.auth import CurrentPrincipal, Principal, Role, require_roles

router = APIRouter(tags=["dispositions"])


class DispositionIn(BaseModel):
    action: DispositionAction = Field(description="verify_normal (yellow→green), verify_violation (yellow→red), "
                                                  "rectify (red→green)")
    method: VerificationMethod | None = Field(None, description="how it was verified (phone/documents/interview/visit)")
    corrective_actions: list[CorrectiveAction] = Field(default_factory=list,
                                                       description="rectification: recover/suspend/notice/referral")
    findings: str = Field(min_length=1, max_length=2000, description="核实情况 / 纠正情况")
    attachments: list[str] = Field(default_factory=list, max_length=20,
                                   description="ids of files uploaded to the alert (POST …/attachments, ATT-…), "
                                               "or references to files archived elsewhere")
    amount_recovered: str | None = Field(None, description="追回资金（元，如 \"1234.50\"），with recover")
    amount_suspended: str | None = Field(None, description="暂停拨付（元），with suspend")


class Accepted(BaseModel):
    disposition_id: str
    alert_id: str
    status: str = "filed"


@router.post("/v1/alerts/{alert_id}/dispositions", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted,
             summary="提交处理单 (file a disposition)")
async def file_disposition(alert_id: str, body: Annotated[DispositionIn, Body()], conn: Conn,
                           principal: Annotated[Principal, Depends(require_roles(Role.member))],
                           request: Request) -> Accepted:
    alert = await visible_alert(conn, principal, alert_id)
    group = alert["group_code"]
    if group not in principal.groups:
        reason = (f"only the responsible group {group} files dispositions on alert {alert_id} "
                  f"(谁主管、谁负责); you act for {', '.join(principal.groups) or 'no group'}")
        await audit.record(request, "disposition.filed", actor=principal.user, region=alert["region"],
                           outcome=audit.Outcome.refused, target=alert_id, reason=reason)
        raise HTTPException(status.HTTP_403_FORBIDDEN, reason)
    current = AlertState(alert_id.split(".")[0], 1, alert["rule_id"], alert["subject"], alert["region"],
                         alert["level"], alert["open"], alert["transitions"])
    refusal = check_disposition(current, current.alert_id, body.action)
    if refusal:
        raise HTTPException(status.HTTP_409_CONFLICT, refusal)
    uploaded = await check_references(conn, alert_id, body.attachments)
    disposition_id = f"D-{uuid.uuid4().hex[:24]}"
    try:
        command = DispositionFiled(disposition_id=disposition_id, alert_id=alert_id, action=body.action,
                                   actor=principal.user[:60], group_code=group, method=body.method,
                                   corrective_actions=body.corrective_actions, findings=body.findings,
                                   attachments=body.attachments,
                                   # the wire's decimal strings, parsed (and refused) by the contract's Money
                                   **body.model_dump(include={"amount_recovered", "amount_suspended"}))
    except ValidationError as exc:
        raise HTTPException(422,
                            exc.errors(include_url=False, include_context=False, include_input=False)) from exc
    now = dt.datetime.now(dt.UTC)
    event = make_event("alert.disposition_filed", command, id=disposition_id, region=alert["region"], time=now,
                       source="/fundwatch/alerts-api", subject=alert_id)
    settings = request.app.state.settings
    async with request.app.state.engine.begin() as tx:
        await store.record_filed(tx, alert["region"], now, command)
        if await store.link_attachments(tx, uploaded, disposition_id) != len(uploaded):
            raise HTTPException(status.HTTP_409_CONFLICT, "an attachment was filed with another disposition meanwhile")
        await store.add_outgoing(tx, topic=settings.topic(Family.alert_command), key=event.key, value=event.to_json())
        await store.add_outgoing(tx, **audit.outgoing(settings, audit.audit_event(
            "alerts", "disposition.filed", actor=principal.user, region=alert["region"], target=alert_id,
            ip=audit.client_ip(request), details={"disposition_id": disposition_id, "action": body.action.value,
                                                  "group": group})))
    projection = request.app.state.projection
    if projection is not None:
        projection.wake_relay()
    return Accepted(disposition_id=disposition_id, alert_id=alert_id)


@router.get("/v1/dispositions/{disposition_id}", response_model=DispositionOut, summary="处理单状态")
async def disposition(disposition_id: str, conn: Conn, principal: CurrentPrincipal) -> DispositionOut:
    row = await store.get_disposition(conn, disposition_id)
    if row is None or not principal.can_see(row["region"]):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"disposition {disposition_id} not found")
    return DispositionOut(**{**row, "filed_at": _utc(row["filed_at"]), "decided_at": _utc(row["decided_at"])})


__all__ = ["AlertState", "router"]
