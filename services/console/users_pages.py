"""用户与权限: the art. 22 procedure of the access service in the browser — any user files an
application (申请), the treasury group confirms it (确认), the system administrator grants it
(开通); either may reject (退回) at their stage. Every step is the access API called with the
signed-in user's own token: the API decides, and its refusals are shown in its own words."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from services.console.session import Api, ApiError, User, current_user
from services.runtime.auth import Role

CurrentUser = Annotated[User, Depends(current_user)]

KINDS = {"open": "开通", "change": "变更", "revoke": "撤销"}
STATUS = {"applied": "已申请，待国库组确认", "confirmed": "国库组已确认，待系统管理员开通", "granted": "已办结",
          "rejected": "已退回"}
STEPS = {"applied": "申请", "confirmed": "确认", "granted": "开通", "rejected": "退回"}
ACTIONS = {"confirm": "确认", "grant": "开通", "reject": "退回"}
FILTERS = (("", "全部"), ("applied", "待确认"), ("confirmed", "待开通"), ("granted", "已办结"), ("rejected", "已退回"))


def application_body(form: FormData) -> dict[str, Any]:
    """The application form (附件3) as the access API takes it; the API validates it."""
    kind = str(form.get("kind") or "open")
    body: dict[str, Any] = {"kind": kind, "username": str(form.get("username") or "").strip(),
                            "unit": str(form.get("unit") or "").strip(), "reason": str(form.get("reason") or "")}
    if kind != "revoke":
        groups = [str(g) for g in form.getlist("groups")]
        groups += [g.strip() for g in str(form.get("groups_text") or "").replace("，", ",").split(",") if g.strip()]
        body["requested"] = {"display_name": str(form.get("display_name") or "").strip(),
                             "region": str(form.get("region") or "").strip(),
                             "roles": [str(r) for r in form.getlist("roles")], "groups": list(dict.fromkeys(groups))}
    return body


def steps_for(user: User, application: dict[str, Any]) -> list[str]:
    """The buttons offered on an application: those of the user's roles at its stage (whether this
    person may take the step — the four-eyes rule, the region — is the API's to say)."""
    status = application["status"]
    if status == "applied" and user.has(Role.treasury):
        return ["confirm", "reject"]
    if status == "confirmed" and user.has(Role.sysadmin):
        return ["grant", "reject"]
    return []


def register(app: FastAPI, page: Callable[..., HTMLResponse], names: Callable[[User], Awaitable[Any]]) -> None:
    def api() -> Api:
        return app.state.api

    async def names_or_none(user: User) -> Any:
        try:  # the system administrator reads no fiscal data: region and group names then stay codes
            return await names(user)
        except ApiError:
            return None

    async def context(user: User, status: str | None) -> dict[str, Any]:
        async def users() -> tuple[dict[str, Any] | None, str | None]:
            try:
                return await api().get(user, "access", "/v1/users", limit=500), None
            except ApiError as exc:
                return None, f"（{exc.status}）{exc.message}"

        async def applications() -> tuple[dict[str, Any], str | None]:
            try:
                return await api().get(user, "access", "/v1/applications", status=status or None, limit=200), None
            except ApiError as exc:
                return {"items": [], "total": 0}, f"（{exc.status}）{exc.message}"

        (us, users_error), (apps, apps_error), n = await asyncio.gather(users(), applications(), names_or_none(user))
        pending = sum(1 for a in apps["items"] if a["status"] in ("applied", "confirmed"))
        return {"users": us, "users_error": users_error, "apps": apps, "apps_error": apps_error, "names": n,
                "status": status or "", "pending": pending, "KINDS": KINDS, "STATUS": STATUS, "STEPS": STEPS,
                "ACTIONS": ACTIONS, "FILTERS": FILTERS, "steps_for": lambda a: steps_for(user, a),
                "assignable": list(Role)}

    @app.get("/users", response_class=HTMLResponse)
    async def users_page(request: Request, user: CurrentUser, status: str | None = None,
                         done: str | None = None) -> HTMLResponse:
        status = status if status in STATUS else None
        return page(request, "users.html", user, **await context(user, status), done=done, error=None, form=None,
                    granted=None)

    @app.post("/users/applications", response_class=HTMLResponse)
    async def file_application(request: Request, user: CurrentUser) -> Response:
        body = application_body(await request.form())
        try:
            a = await api().call(user, "POST", "access", "/v1/applications", json=body)
        except ApiError as exc:
            return page(request, "users.html", user, **await context(user, None), done=None, granted=None, form=body,
                        error=f"申请未被接受（{exc.status}）：{exc.message}")
        done = f"已提交申请 {a['application_id']}（{a['username']}）"
        return RedirectResponse(f"/users?{urlencode({'done': done})}", status_code=303)

    @app.post("/users/applications/{application_id}/{step}", response_class=HTMLResponse)
    async def take_step(request: Request, application_id: str, step: str,
                        user: CurrentUser) -> Response:
        if step not in ACTIONS:
            return page(request, "error.html", user, message="没有这个步骤", status=404)
        form = await request.form()
        note = str(form.get("note") or "").strip() or None
        try:
            answer = await api().call(user, "POST", "access", f"/v1/applications/{application_id}/{step}",
                                      json={"note": note})
        except ApiError as exc:
            return page(request, "users.html", user, **await context(user, None), done=None, granted=None, form=None,
                        error=f"{ACTIONS[step]}未被接受（{exc.status}）：{exc.message}")
        if step == "grant":
            # the one-time password is shown once, in this answer, never in a URL
            return page(request, "users.html", user, **await context(user, None), done=None, granted=answer,
                        error=None, form=None)
        done = f"已{ACTIONS[step]} {application_id}"
        return RedirectResponse(f"/users?{urlencode({'done': done})}", status_code=303)
