"""`/v1/deadletters`: what any consumer refused (who, when, why), for the system administrator
(信息中心) of the region the record names; replayed once its cause is fixed."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request, status
from pydantic import BaseModel, Field

from services.ingest import deadletters, store
from services.ingest.publisher import BrokerUnavailable
from services.runtime.auth import Principal, Role, require_roles
from services.runtime.http import MAX_OFFSET, Offset

router = APIRouter(prefix="/v1/deadletters", tags=["dead letters"])
Admin = Annotated[Principal, Depends(require_roles(Role.sysadmin))]
LetterId = Annotated[int, Path(ge=0, le=MAX_OFFSET, description="the dead letter's id (its offset)")]


class DeadLetterOut(BaseModel):
    letter_id: int = Field(description="its offset on the dead-letter topic")
    consumer: str = Field(description="the consumer that refused the record, e.g. ingest intake")
    at: dt.datetime = Field(description="when it was refused (UTC)")
    reason: str
    source_topic: str
    source_partition: int
    source_offset: int
    region: str | None
    client_id: str | None = Field(description="the client whose API key the record carried")
    redacted: bool = Field(description="personal numbers were masked: only a fixed copy can be replayed")
    value: str = Field(description="the record as refused (personal numbers masked)")
    headers: list[list[str]]
    replayed_at: dt.datetime | None
    replayed_by: str | None
    replayed_ids: list[str]
    also_refused_by: list[str] = Field(description="other consumers that refused the same record (one dead letter)")

    @classmethod
    def of(cls, row: Any) -> DeadLetterOut:
        record = json.loads(row.record)
        return cls(letter_id=row.offset, consumer=row.consumer, at=store.aware(row.at) or dt.datetime.now(dt.UTC), reason=row.reason,
                   source_topic=row.source_topic, source_partition=row.source_partition,
                   source_offset=row.source_offset, region=row.region, client_id=row.client_id,
                   redacted=row.redacted, value=str(record.get("value", "")), headers=record.get("headers", []),
                   replayed_at=store.aware(row.replayed_at), replayed_by=row.replayed_by,
                   replayed_ids=row.replayed_ids.split(",") if row.replayed_ids else [],
                   also_refused_by=row.also_refused_by.split(",") if row.also_refused_by else [])


class DeadLetterPage(BaseModel):
    items: list[DeadLetterOut]
    total: int


class ReplayIn(BaseModel):
    event: dict[str, Any] | None = Field(None, description="a fixed copy of the event (default: the stored copy)")


class Replayed(BaseModel):
    letter_id: int
    replayed_ids: list[str]


@router.get("", response_model=DeadLetterPage, summary="dead letters of your region, oldest first")
async def list_deadletters(request: Request, admin: Admin, replayed: bool | None = None, consumer: str | None = None,
                           limit: Annotated[int, Query(ge=1, le=500)] = 100, offset: Offset = 0) -> DeadLetterPage:
    async with request.app.state.engine.connect() as conn:
        rows, total = await store.list_deadletters(conn, admin.prefix, replayed=replayed, consumer=consumer,
                                                   limit=limit, offset=offset)
    return DeadLetterPage(items=[DeadLetterOut.of(r) for r in rows], total=total)


@router.get("/{letter_id}", response_model=DeadLetterOut, summary="one dead letter")
async def get_deadletter(letter_id: LetterId, request: Request, admin: Admin) -> DeadLetterOut:
    async with request.app.state.engine.connect() as conn:
        row = await store.get_deadletter(conn, letter_id)
    if row is None or not deadletters.visible(row, admin.prefix):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"dead letter {letter_id} not found")
    return DeadLetterOut.of(row)


@router.post("/{letter_id}/replay", response_model=Replayed,
             responses={404: {"description": "no such dead letter in your region"},
                        409: {"description": "replayed already, or not replayable as stored"},
                        422: {"description": "the copy is still refused (the reason is in `detail`)"}},
             summary="send a dead letter again (the stored or a fixed copy) through its checks")
async def replay_deadletter(letter_id: LetterId, request: Request, admin: Admin,
                            body: Annotated[ReplayIn | None, Body()] = None) -> Replayed:
    app = request.app
    try:
        ids = await deadletters.replay(app.state.settings, app.state.engine, app.state.publisher, letter_id,
                                       actor=admin.user, region_prefix=admin.prefix,
                                       fixed=(body or ReplayIn()).event)
    except deadletters.NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except deadletters.NotReplayable as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except deadletters.Invalid as exc:
        raise HTTPException(422, str(exc)) from exc
    except BrokerUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"event log unavailable, nothing replayed: {exc}",
                            headers={"Retry-After": "5"}) from exc
    return Replayed(letter_id=letter_id, replayed_ids=ids)
