"""The 通知路由 page (/routing): each group's notification targets (channel, levels, categories,
rules, recipients) listed, added, changed and removed through notify's `/v1/targets`; the
reminder policies; failed deliveries with their reason and a resend button. Everything goes
through notify's API with the user's own token, and a refusal is shown in the API's words."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.console.session import Api, ApiError, User, current_user

CHANNELS = {"webhook": "通用 Webhook（Standard Webhooks 签名）", "alertmanager": "Alertmanager",
            "wecom": "企业微信机器人", "dingtalk": "钉钉机器人", "email": "电子邮件"}
CATEGORIES = {"indicator receipt": "指标接收", "allocation": "指标分配", "disbursement progress": "支出进度",
              "fund usage": "资金使用", "account management": "账户管理", "recipients": "资金对象",
              "performance": "绩效管理"}
SAVED = {"added": "已新增推送渠道。", "changed": "已保存推送渠道。", "removed": "已删除推送渠道。",
         "resent": "已重新排队推送，稍后刷新查看结果。", "policy": "已保存催办规则。"}


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").replace("，", ",").split(",") if v.strip()]


def target_body(form: Any) -> dict[str, Any]:
    """The target form as notify's TargetIn (notify validates it; its refusal is shown)."""
    return {"group_code": (form.get("group_code") or "").strip(), "channel": form.get("channel") or "",
            "target": (form.get("target") or "").strip(), "secret": (form.get("secret") or "").strip() or None,
            "levels": form.getlist("levels"), "categories": form.getlist("categories"),
            "rule_ids": _split(form.get("rule_ids")), "recipients": _split(form.get("recipients")),
            "enabled": form.get("enabled") == "on"}


def install(app: FastAPI, page: Callable[..., HTMLResponse], api: Callable[[], Api],
            names: Callable[[User], Any]) -> None:
    async def context(user: User) -> dict[str, Any]:
        targets, policies, failed, rules = await asyncio.gather(
            api().get(user, "notify", "/v1/targets"), api().get(user, "notify", "/v1/reminder-policies"),
            api().get(user, "notify", "/v1/deliveries", status="failed", limit=100),
            api().get(user, "alerts", "/v1/rules"))
        by_group: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for t in targets:
            by_group[t["group_code"]].append(t)
        groups = sorted(by_group, key=lambda g: (g != "*", g))
        return {"by_group": by_group, "groups": groups, "policies": policies, "failed": failed,
                "rules": rules, "names": await names(user)}

    async def render(request: Request, user: User, *, error: str | None = None, form: dict | None = None,
                     status_code: int = 200) -> HTMLResponse:
        try:
            ctx = await context(user)
        except ApiError as exc:
            ctx = {"by_group": {}, "groups": [], "policies": [], "failed": {"items": [], "total": 0}, "rules": [],
                   "names": await names(user)}
            error = error or f"通知服务拒绝或不可用：{exc.message}"
        saved = SAVED.get(request.query_params.get("saved") or "")
        response = page(request, "routing.html", user, channels=CHANNELS, categories=CATEGORIES, error=error,
                        form=form or {}, saved=saved, editing=request.query_params.get("edit"), **ctx)
        response.status_code = status_code
        return response

    def done(what: str) -> Response:
        return RedirectResponse(f"/routing?saved={what}", status_code=303)

    @app.get("/routing", response_class=HTMLResponse)
    async def routing_page(request: Request) -> HTMLResponse:
        return await render(request, await current_user(request))

    @app.post("/routing/targets", response_class=HTMLResponse)
    async def add_target(request: Request) -> Response:
        user = await current_user(request)
        body = target_body(await request.form())
        try:
            await api().call(user, "POST", "notify", "/v1/targets", json=body)
        except ApiError as exc:
            return await render(request, user, error=exc.message, form=body, status_code=exc.status)
        return done("added")

    @app.post("/routing/targets/{target_id}", response_class=HTMLResponse)
    async def change_target(request: Request, target_id: int) -> Response:
        user = await current_user(request)
        body = target_body(await request.form())
        try:
            await api().call(user, "PUT", "notify", f"/v1/targets/{target_id}", json=body)
        except ApiError as exc:
            return await render(request, user, error=exc.message, status_code=exc.status)
        return done("changed")

    @app.post("/routing/targets/{target_id}/delete", response_class=HTMLResponse)
    async def remove_target(request: Request, target_id: int) -> Response:
        user = await current_user(request)
        try:
            await api().call(user, "DELETE", "notify", f"/v1/targets/{target_id}")
        except ApiError as exc:
            return await render(request, user, error=exc.message, status_code=exc.status)
        return done("removed")

    @app.post("/routing/deliveries/{delivery_id}/resend", response_class=HTMLResponse)
    async def resend(request: Request, delivery_id: int) -> Response:
        user = await current_user(request)
        try:
            await api().call(user, "POST", "notify", f"/v1/deliveries/{delivery_id}/resend")
        except ApiError as exc:
            return await render(request, user, error=exc.message, status_code=exc.status)
        return done("resent")

    @app.post("/routing/policies", response_class=HTMLResponse)
    async def set_policy(request: Request) -> Response:
        user = await current_user(request)
        form = await request.form()
        rule, level = str(form.get("rule_id") or "*"), str(form.get("level") or "")

        def number(name: str) -> Any:
            value = str(form.get(name) or "").strip()
            return int(value) if value.isdigit() else (value or None)

        body = {"remind_after": number("remind_after"), "repeat_every": number("repeat_every"),
                "escalate_after": number("escalate_after")}
        try:
            await api().call(user, "PUT", "notify", f"/v1/reminder-policies/{rule}/{level}", json=body)
        except ApiError as exc:
            return await render(request, user, error=exc.message, status_code=exc.status)
        return done("policy")
