"""Attachments of dispositions (处理单附件): uploaded by the responsible group, kept in the database.

A file is uploaded to its alert first (`POST /v1/alerts/{id}/attachments`, one file per request),
then named by its id in the disposition's `attachments`, which links it to the disposition in the
same transaction that files it. Whoever can see the alert can download its attachments; nobody
else learns they exist (404, as for the alert)."""

from __future__ import annotations

import datetime as dt
import hashlib
import mimetypes
import re
import uuid
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, HTTPException, Request, UploadFile, status
from fastapi.responses import Response
from pydantic import BaseModel

from services.alerts import store
from services.alerts.api.deps import Conn, visible_alert
from services.runtime import audit
from services.runtime.auth import CurrentPrincipal, Principal, Role, require_roles
from services.runtime.sql import naive, utcnow

router = APIRouter(tags=["attachments"])

MAX_BYTES = 10 << 20  # a scanned 处理单 of a few pages; the body limit of the route leaves room for the form
ID = re.compile(r"^ATT-[0-9a-f]{24}$")

_ZIP, _OLE = (b"PK\x03\x04",), (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",)
ALLOWED: dict[str, tuple[bytes, ...]] = {  # content type → how its content starts (checked, not trusted)
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
    "image/tiff": (b"II*\x00", b"MM\x00*"),
    "application/ofd": _ZIP,  # 版式文档 OFD (GB/T 33190), the national e-document format
    "application/msword": _OLE,
    "application/vnd.ms-excel": _OLE,
    "application/vnd.ms-powerpoint": _OLE,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": _ZIP,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": _ZIP,
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": _ZIP,
    "application/vnd.ms-works": _OLE,
    "application/wps-office.doc": _OLE,
}
_EXTENSIONS = {".ofd": "application/ofd", ".wps": "application/wps-office.doc", ".et": "application/vnd.ms-excel"}


class AttachmentOut(BaseModel):
    attachment_id: str
    alert_id: str
    disposition_id: str | None
    file_name: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: dt.datetime
    url: str

    @classmethod
    def of(cls, row: dict) -> AttachmentOut:
        at = row["uploaded_at"]
        return cls(**{k: v for k, v in row.items() if k not in ("content", "region", "uploaded_at")},
                   uploaded_at=at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at,
                   url=f"/v1/attachments/{row['attachment_id']}")


def _refuse(code: int, message: str, kind: str) -> HTTPException:
    return HTTPException(code, [{"loc": ["body", "file"], "msg": message, "type": kind}])


def content_type_of(declared: str | None, file_name: str) -> str:
    """The declared type, or (for a browser's octet-stream) the one its file name implies."""
    kind = (declared or "").split(";")[0].strip().lower()
    if kind in ("", "application/octet-stream"):
        ext = ("." + file_name.rsplit(".", 1)[-1].lower()) if "." in file_name else ""
        kind = _EXTENSIONS.get(ext) or mimetypes.guess_type(file_name)[0] or "application/octet-stream"
    return kind


def check_file(file_name: str, kind: str, content: bytes) -> None:
    """413 / 415 / 422 naming the field when the file may not be kept."""
    if len(content) > MAX_BYTES:
        raise _refuse(413, f"file {file_name!r} is {len(content)} bytes; at most {MAX_BYTES} bytes "
                           f"({MAX_BYTES >> 20} MiB) are accepted", "too_large")
    if kind not in ALLOWED:
        raise _refuse(415, f"file {file_name!r} is {kind}; accepted are PDF, OFD, images (PNG, JPEG, GIF, WebP, "
                           f"TIFF) and Office/WPS documents", "unsupported_type")
    if not content:
        raise _refuse(422, f"file {file_name!r} is empty", "empty")
    if not content.startswith(ALLOWED[kind]):
        raise _refuse(415, f"file {file_name!r} does not contain {kind} (its content does not start as one does)",
                      "content_mismatch")


def _safe_name(name: str) -> str:
    """The file's own name without any path, control characters or quotes (kept for the download)."""
    base = re.split(r"[\\/]", name)[-1]
    base = re.sub(r"[\x00-\x1f\x7f\"]", "", base).strip()
    return base[:255] or "附件"


@router.post("/v1/alerts/{alert_id}/attachments", status_code=status.HTTP_201_CREATED, response_model=AttachmentOut,
             summary="上传处理单附件 (upload a file for a disposition)")
async def upload(alert_id: str, file: Annotated[UploadFile, File(description="PDF, OFD, image or Office document")],
                 conn: Conn, principal: Annotated[Principal, Depends(require_roles(Role.member))],
                 request: Request) -> AttachmentOut:
    alert = await visible_alert(conn, principal, alert_id)
    if alert["group_code"] not in principal.groups:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"only the responsible group {alert['group_code']} attaches files to alert {alert_id}")
    if not alert["open"]:
        raise HTTPException(status.HTTP_409_CONFLICT, f"alert {alert_id} is closed; nothing more can be filed on it")
    name = _safe_name(file.filename or "")
    content = await file.read(MAX_BYTES + 1)
    kind = content_type_of(file.content_type, name)
    check_file(name, kind, content)
    row = {"attachment_id": f"ATT-{uuid.uuid4().hex[:24]}", "alert_id": alert_id, "region": alert["region"],
           "disposition_id": None, "file_name": name, "content_type": kind, "size": len(content),
           "sha256": hashlib.sha256(content).hexdigest(), "uploaded_by": principal.user[:60],
           "uploaded_at": naive(utcnow()), "content": content}
    settings = request.app.state.settings
    async with request.app.state.engine.begin() as tx:
        await store.add_attachment(tx, row)
        await store.add_outgoing(tx, **audit.outgoing(settings, audit.audit_event(
            "alerts", "attachment.uploaded", actor=principal.user, region=alert["region"], target=alert_id,
            ip=audit.client_ip(request), details={"attachment_id": row["attachment_id"], "sha256": row["sha256"],
                                                  "size": str(row["size"]), "content_type": kind})))
    projection = request.app.state.projection
    if projection is not None:
        projection.wake_relay()
    return AttachmentOut.of(row)


@router.get("/v1/attachments/{attachment_id}", summary="下载处理单附件 (download)",
            responses={200: {"content": {"application/octet-stream": {}}, "description": "the file as uploaded"}})
async def download(attachment_id: str, conn: Conn, principal: CurrentPrincipal) -> Response:
    row = await store.get_attachment(conn, attachment_id, content=True)
    if row is None or not principal.can_see(row["region"]):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"attachment {attachment_id} not found")
    await visible_alert(conn, principal, row["alert_id"])
    quoted = quote(row["file_name"], safe="")
    ascii_name = row["file_name"].encode("ascii", "replace").decode().replace("?", "_")
    return Response(row["content"], media_type=row["content_type"], headers={
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quoted}",
        "X-Content-Type-Options": "nosniff", "X-Content-SHA256": row["sha256"], "Cache-Control": "private"})


async def check_references(conn: Conn, alert_id: str, references: list[str]) -> list[str]:
    """The attachment ids among a disposition's references, each checked: uploaded to this alert and not
    filed with another disposition (422 naming the entry). Other references name files archived elsewhere."""
    ids = []
    for i, ref in enumerate(references):
        if not ref.startswith("ATT-"):
            continue
        row = await store.get_attachment(conn, ref) if ID.fullmatch(ref) else None
        problem = ("no such attachment" if row is None or row["alert_id"] != alert_id
                   else f"already filed with disposition {row['disposition_id']}" if row["disposition_id"] else None)
        if problem:
            raise HTTPException(422, [
                {"loc": ["body", "attachments", i], "msg": f"attachment {ref} of alert {alert_id}: {problem}",
                 "type": "value_error"}])
        ids.append(ref)
    return ids
