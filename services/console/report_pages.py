"""The 月度报告 page (/reports): the monthly monitoring report (月度监控情况报告, seed 000 art. 21) made on
demand for a month, a region and a responsible group (or the treasury group's overall one), the
reports already made, and each downloaded as Excel, PDF or a print-ready page. Everything goes
through notify's `/v1/reports` with the user's own token; a refusal is shown in the API's words."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.console.session import Api, ApiError, User, current_user
from services.console.text import SHANGHAI
from services.runtime.auth import Role

FORMATS = {"xlsx": ("xlsx", "Excel"), "pdf": ("pdf", "PDF"), "html": ("html", "网页（可打印）")}


def last_month(today: dt.date) -> str:
    """The month a report is usually made for: the one before `today`'s."""
    first = today.replace(day=1) - dt.timedelta(days=1)
    return f"{first:%Y-%m}"


def months_before(today: dt.date, count: int = 36) -> list[str]:
    """The months a report can be made for, newest first: this one and the `count - 1` before it."""
    year, month, out = today.year, today.month, []
    for _ in range(count):
        out.append(f"{year}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out


def install(app: FastAPI, page: Callable[..., HTMLResponse], api: Callable[[], Api],
            names: Callable[[User], Any]) -> None:
    async def render(request: Request, user: User, *, error: str | None = None, form: dict | None = None,
                     status_code: int = 200) -> HTMLResponse:
        try:
            reports = await api().get(user, "notify", "/v1/reports")
        except ApiError as exc:
            reports, error = [], error or f"通知服务拒绝或不可用：{exc.message}"
        reports = sorted(reports, key=lambda r: r["generated_at"], reverse=True)
        today = dt.datetime.now(SHANGHAI).date()
        form = form or {"month": last_month(today), "region": user.principal.region,
                        "group_code": "" if user.has(Role.treasury) else next(iter(user.principal.groups), "")}
        response = page(request, "reports.html", user, reports=reports, form=form, months=months_before(today),
                        error=error, formats=FORMATS, made=request.query_params.get("made"), names=await names(user),
                        overall=user.has(Role.treasury))
        response.status_code = status_code
        return response

    @app.get("/reports", response_class=HTMLResponse)
    async def reports_page(request: Request) -> HTMLResponse:
        return await render(request, await current_user(request))

    @app.post("/reports", response_class=HTMLResponse)
    async def make_report(request: Request) -> Response:
        user = await current_user(request)
        form = await request.form()
        body = {"month": str(form.get("month") or ""), "region": str(form.get("region") or ""),
                "group_code": str(form.get("group_code") or "") or None}
        try:
            made = await api().call(user, "POST", "notify", "/v1/reports", json=body)
        except ApiError as exc:
            return await render(request, user, error=exc.message, form={**body, "group_code": body["group_code"] or ""},
                                status_code=exc.status)
        return RedirectResponse(f"/reports?made={made['report_id']}", status_code=303)

    @app.get("/reports/{report_id}/{fmt}")
    async def download(request: Request, report_id: str, fmt: str) -> Response:
        user = await current_user(request)
        if fmt not in FORMATS:
            return page(request, "error.html", user, message=f"没有“{fmt}”格式的报告", status=404)
        try:
            r = await api().fetch(user, "GET", "notify", f"/v1/reports/{report_id}/{fmt}")
            meta = await api().get(user, "notify", f"/v1/reports/{report_id}")
        except ApiError as exc:
            return page(request, "error.html", user, message=f"报告 {report_id}：{exc.message}", status=exc.status)
        n = await names(user)
        group = meta.get("group")
        who = "国库组总报告" if group in (None, "", "*") else n.group(group)
        month = str(meta.get("month") or "")[:7]
        headers = {"content-type": r.headers.get("content-type", "application/octet-stream")}
        if fmt != "html":
            name = f"月度监控情况报告-{month}-{n.region(meta.get('region'))}-{who}.{FORMATS[fmt][0]}"
            headers["content-disposition"] = f"attachment; filename*=UTF-8''{quote(name)}"
        return Response(r.content, headers=headers)
