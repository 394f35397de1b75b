"""The console's pages. Each handler asks the services' APIs (with the user's token) and renders
a Jinja2 template; lists also download as XLSX or CSV (`?format=xlsx`)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import httpx
from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.datastructures import UploadFile

from services.console import export, flows, geo, ops_pages, report_pages, routing_pages, text, users_pages
from services.console.session import (
    Api,
    ApiError,
    LoginRequired,
    User,
    clear_login,
    current_user,
    set_login,
)
from services.runtime.auth import Role
from services.runtime.settings import Settings

HERE = Path(__file__).resolve().parent
CurrentUser = Annotated[User, Depends(current_user)]
NAMES_TTL_S = 300.0


def _templates() -> Jinja2Templates:
    t = Jinja2Templates(directory=str(HERE / "templates"))
    env = t.env
    env.filters.update(money=text.money, percent=text.percent, time=text.local_time, account=text.account,
                       tojson_safe=lambda v: Markup(json.dumps(v, ensure_ascii=False, default=str).replace("</", "<\\/")))
    env.globals.update(T=text, Role=Role)
    return t


class Names:
    """Region, group and fund names for codes (reference data, refreshed every few minutes)."""

    def __init__(self) -> None:
        self.regions: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self.funds: dict[str, str] = {}
        self.loaded: dict[str, float] = {}
        self.lock = asyncio.Lock()

    async def load(self, api: Api, user: User) -> Names:
        scope = user.principal.region
        if time.monotonic() - self.loaded.get(scope, -1e9) < NAMES_TTL_S:
            return self
        async with self.lock:
            regions, groups, funds = await asyncio.gather(
                api.get(user, "ledger", "/v1/views/regions", limit=500),
                api.get(user, "ledger", "/v1/views/groups", limit=500),
                api.get(user, "ledger", "/v1/funds", limit=500))
            for r in regions["items"]:
                self.regions[r["code"]] = {"name": r["name"] or r["code"], "level": r["level"]}
            for g in groups["items"]:
                if g["key"]:
                    self.groups[g["key"]] = {"name": g["name"] or g["key"], "department": g["department"],
                                             "region": g["region"]}
            for f in funds["items"]:
                self.funds[f["fund_code"]] = f["name"]
            self.loaded[scope] = time.monotonic()
        return self

    def region(self, code: str | None) -> str:
        if not code:
            return "—"
        if code == "000000":
            return "全国（财政部）"
        return self.regions.get(code, {}).get("name") or code

    def group(self, code: str | None) -> str:
        return "—" if not code else self.groups.get(code, {}).get("name") or code

    def fund(self, code: str | None) -> str:
        return "—" if not code else self.funds.get(code) or code

    def regions_in(self, scope: str) -> list[tuple[str, str, str]]:
        """(code, name, level) of the regions the user may pick, top-down."""
        from contracts.types import region_within

        out = [(c, v["name"], v["level"]) for c, v in self.regions.items() if region_within(c, scope)]
        return sorted(out, key=lambda r: r[0])

    def groups_in(self, scope: str) -> list[tuple[str, str]]:
        from contracts.types import region_within

        return sorted((k, v["name"]) for k, v in self.groups.items()
                      if not v["region"] or region_within(v["region"], scope))


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(title="fundwatch console", version="1", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.names = Names()
    templates = _templates()
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.on_event("startup")
    async def _start() -> None:
        app.state.http = httpx.AsyncClient(timeout=30)
        app.state.api = Api(settings, app.state.http)

    @app.on_event("shutdown")
    async def _stop() -> None:
        await app.state.http.aclose()

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, _exc: LoginRequired) -> Response:
        if request.headers.get("x-fragment"):
            return Response("请重新登录", status_code=401)
        response = RedirectResponse(f"/login?{urlencode({'next': str(request.url.path)})}", status_code=303)
        clear_login(response)
        return response

    @app.middleware("http")
    async def _renewed_cookies(request: Request, call_next):
        response = await call_next(request)
        tokens = getattr(request.state, "new_tokens", None)
        if tokens:
            set_login(response, tokens)
        response.headers.setdefault("Content-Security-Policy",
                                    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'")
        return response

    def api() -> Api:
        return app.state.api

    async def names(user: User) -> Names:
        return await app.state.names.load(app.state.api, user)

    def unit_of(request: Request) -> str:
        return "wan" if request.cookies.get("fw_unit") == "wan" else "yuan"

    def page(request: Request, template: str, user: User | None, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, template, {"user": user, "unit": unit_of(request),
                                                              "path": request.url.path, **context})

    users_pages.register(app, page, names)  # 用户与权限 (art. 22 applications)

    # ------------------------------------------------------------------ sessions

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request, next: str = "/") -> HTMLResponse:
        return page(request, "login.html", None, next=next if next.startswith("/") else "/", error=None)

    @app.post("/login")
    async def login(request: Request, username: Annotated[str, Form()], password: Annotated[str, Form()],
                    next: Annotated[str, Form()] = "/") -> Response:
        try:
            tokens = await api().call(None, "POST", "access", "/v1/login",
                                      json={"username": username, "password": password})
        except ApiError as exc:
            error = {401: "用户名或密码错误", 429: "登录失败次数过多，请稍后再试"}.get(exc.status, exc.message)
            return page(request, "login.html", None, next=next, error=error, username=username)
        response = RedirectResponse(next if next.startswith("/") and not next.startswith("//") else "/",
                                    status_code=303)
        set_login(response, tokens)
        return response

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        refresh = request.cookies.get("fw_refresh")
        if refresh:
            with contextlib.suppress(ApiError):  # already ended: the cookies go anyway
                await api().call(None, "POST", "access", "/v1/logout", json={"refresh_token": refresh})
        response = RedirectResponse("/login", status_code=303)
        clear_login(response)
        return response

    @app.get("/unit")
    async def switch_unit(request: Request, to: str = "yuan", back: str = "/") -> Response:
        response = RedirectResponse(back if back.startswith("/") and not back.startswith("//") else "/",
                                    status_code=303)
        response.set_cookie("fw_unit", "wan" if to == "wan" else "yuan", samesite="strict", path="/")
        return response

    # ------------------------------------------------------------------ 总览

    @app.get("/", response_class=HTMLResponse)
    async def overview(request: Request, user: CurrentUser, region: str | None = None,
                       budget_year: str | None = None) -> HTMLResponse:
        n = await names(user)
        year = int(budget_year) if budget_year and budget_year.isdigit() else None
        where = region or user.principal.region
        error = None
        try:
            o, tree, trend, summary = await asyncio.gather(
                api().get(user, "ledger", "/v1/overview", region=where, budget_year=year),
                api().get(user, "ledger", "/v1/regions/tree", region=where, budget_year=year, limit=500),
                api().get(user, "ledger", "/v1/trend", region=where, budget_year=year),
                api().get(user, "alerts", "/v1/alert-summary", region=where))
        except ApiError as exc:
            error, o, tree, trend, summary = exc.message, None, None, [], None
        lights = _lights(summary)
        alerts_by_region = _alerts_by_region(summary)
        return page(request, "overview.html", user, names=n, o=o, tree=tree, trend=trend, lights=lights,
                    alerts_by_region=alerts_by_region, region=where, year=year, years=_years(), error=error)

    # ------------------------------------------------------------------ 预警监控

    def alert_params(request: Request) -> dict[str, Any]:
        q = request.query_params
        return {"region": q.get("region") or None, "level": q.get("level") or None,
                "category": q.get("category") or None, "rule_id": q.get("rule_id") or None,
                "group": q.get("group") or None, "status": q.get("status") or None,
                "since": text.shanghai_bound(q.get("since")), "until": text.shanghai_bound(q.get("until"), end=True),
                "offset": int(q.get("offset") or 0) if (q.get("offset") or "0").isdigit() else 0}

    async def rules_of(user: User) -> list[dict[str, Any]]:
        return await api().get(user, "alerts", "/v1/rules")

    @app.get("/alerts", response_class=HTMLResponse)
    async def alerts_page(request: Request, user: CurrentUser, format: str | None = None) -> Response:
        params = alert_params(request)
        if format in ("xlsx", "csv"):
            return await export.stream(format, "预警列表", export.ALERT_COLUMNS,
                                       _alert_rows(api(), user, params, await names(user)))
        n, rules = await asyncio.gather(names(user), rules_of(user))
        error, page_ = None, {"items": [], "total": 0}
        try:
            page_ = await api().get(user, "alerts", "/v1/alerts", **params, limit=50)
        except ApiError as exc:
            error = exc.message
        return page(request, "alerts.html", user, names=n, rules=rules, alerts=page_, q=request.query_params,
                    params=params, error=error, query=str(request.query_params))

    @app.get("/alerts/rows", response_class=HTMLResponse)
    async def alert_rows(request: Request, user: CurrentUser) -> HTMLResponse:
        """The inbox's table body, fetched again every few seconds by the page (live updates)."""
        params = alert_params(request)
        page_ = await api().get(user, "alerts", "/v1/alerts", **params, limit=50)
        return page(request, "alert_rows.html", user, names=await names(user), alerts=page_, params=params)

    async def detail_context(user: User, alert_id: str) -> dict[str, Any]:
        d = await api().get(user, "alerts", f"/v1/alerts/{alert_id}")
        chain = await _ledger_chain(api(), user, d)
        return {"d": d, "chain": chain, "watch": _watched(d)}

    @app.get("/alerts/{alert_id}", response_class=HTMLResponse)
    async def alert_detail(request: Request, user: CurrentUser, alert_id: str) -> HTMLResponse:
        n = await names(user)
        try:
            ctx = await detail_context(user, alert_id)
        except ApiError as exc:
            return page(request, "error.html", user, message=f"预警 {alert_id}：{exc.message}", status=exc.status)
        return page(request, "alert.html", user, names=n, **ctx, error=None, filed=request.query_params.get("filed"))

    @app.post("/alerts/{alert_id}/dispositions", response_class=HTMLResponse)
    async def file_disposition(request: Request, user: CurrentUser, alert_id: str) -> Response:
        form = await request.form()
        # files uploaded by an earlier, refused try of this form come back as their ids: not uploaded twice
        uploaded = [str(x) for x in form.getlist("uploaded") if str(x).startswith("ATT-")]
        references = [a.strip() for a in str(form.get("attachments") or "").splitlines() if a.strip()]
        body = {"action": form.get("action"), "method": form.get("method") or None,
                "corrective_actions": form.getlist("corrective_actions"), "findings": form.get("findings") or "",
                "attachments": uploaded + references}
        for amount in ("amount_recovered", "amount_suspended"):  # exact decimal strings; the API validates them
            if str(form.get(amount) or "").strip():
                body[amount] = str(form.get(amount)).strip().replace(",", "")

        async def refused(message: str) -> Response:
            n = await names(user)
            ctx = await detail_context(user, alert_id)
            return page(request, "alert.html", user, names=n, **ctx, filed=None,
                        form={**body, "references": "\n".join(references), "uploaded": uploaded}, error=message)

        for f in form.getlist("files"):
            if not isinstance(f, UploadFile) or not f.filename:
                continue
            try:
                meta = await api().call(user, "POST", "alerts", f"/v1/alerts/{alert_id}/attachments", files={
                    "file": (f.filename, await f.read(), f.content_type or "application/octet-stream")})
            except ApiError as exc:
                return await refused(f"附件“{f.filename}”未被接受（{exc.status}）：{exc.message}")
            uploaded.append(meta["attachment_id"])
        body["attachments"] = uploaded + references
        try:
            accepted = await api().call(user, "POST", "alerts", f"/v1/alerts/{alert_id}/dispositions", json=body)
        except ApiError as exc:
            return await refused(f"处理单未被接受（{exc.status}）：{text.refusal(exc.message)}")
        return RedirectResponse(f"/alerts/{alert_id}?filed={accepted['disposition_id']}", status_code=303)

    @app.get("/attachments/{attachment_id}")
    async def attachment(request: Request, user: CurrentUser, attachment_id: str) -> Response:
        """A disposition's file, as stored by the alerts API (which checks that the user sees its alert)."""
        try:
            r = await api().fetch(user, "GET", "alerts", f"/v1/attachments/{attachment_id}")
        except ApiError as exc:
            return page(request, "error.html", user, message=f"附件 {attachment_id}：{exc.message}", status=exc.status)
        keep = ("content-type", "content-disposition", "x-content-type-options", "x-content-sha256", "cache-control")
        return Response(r.content, headers={k: v for k, v in r.headers.items() if k.lower() in keep})

    @app.get("/alerts/{alert_id}/state")
    async def alert_state(user: CurrentUser, alert_id: str) -> dict[str, Any]:
        """The alert's level and status as the read model has them (the detail page waits for its disposition's)."""
        a = (await api().get(user, "alerts", f"/v1/alerts/{alert_id}"))["alert"]
        return {"alert_id": a["alert_id"], "level": a["level"], "status": a["status"], "transitions": a["transitions"]}

    @app.get("/dispositions/{disposition_id}")
    async def disposition_status(user: CurrentUser, disposition_id: str) -> dict[str, Any]:
        """What became of a filed disposition (the detail page asks until the state machine decided)."""
        return await api().get(user, "alerts", f"/v1/dispositions/{disposition_id}")

    # ------------------------------------------------------------------ 规则配置

    @app.get("/rules", response_class=HTMLResponse)
    async def rules_page(request: Request, user: CurrentUser, format: str | None = None) -> Response:
        rules = await rules_of(user)
        if format in ("xlsx", "csv"):
            return await export.stream(format, "预警规则", export.RULE_COLUMNS, _aiter(
                [[r["rule_id"], r["category_zh"], r["title_zh"], text.word(text.ALERT_LEVELS, r["default_level"]),
                  r["basis"], len(r["configured"])] for r in rules]))
        return page(request, "rules.html", user, rules=rules)

    async def rule_context(user: User, rule_id: str, region: str | None, year: int) -> dict[str, Any]:
        rules, history = await asyncio.gather(rules_of(user),
                                              api().get(user, "alerts", "/v1/rules/history", rule_id=rule_id))
        rule = next((r for r in rules if r["rule_id"] == rule_id), None)
        if rule is None:
            raise ApiError(404, f"没有规则 {rule_id}")
        effective = await api().get(user, "alerts", f"/v1/rules/{rule_id}/effective", budget_year=year,
                                    region=region or user.principal.region)
        return {"rule": rule, "history": history, "effective": effective}

    @app.get("/rules/{rule_id}", response_class=HTMLResponse)
    async def rule_page(request: Request, user: CurrentUser, rule_id: str, region: str | None = None,
                        budget_year: int | None = None) -> HTMLResponse:
        year = budget_year or _years()[-2]
        n = await names(user)
        try:
            ctx = await rule_context(user, rule_id, region, year)
        except ApiError as exc:
            return page(request, "error.html", user, message=exc.message, status=exc.status)
        return page(request, "rule.html", user, names=n, **ctx, year=year, region=region or user.principal.region,
                    years=_years(), error=None, saved=request.query_params.get("saved"))

    @app.post("/rules/{rule_id}", response_class=HTMLResponse)
    async def configure_rule(request: Request, user: CurrentUser, rule_id: str) -> Response:
        form = await request.form()
        year = int(str(form.get("budget_year") or _years()[-2]))
        rules = await rules_of(user)
        rule = next((r for r in rules if r["rule_id"] == rule_id), None)
        params: dict[str, Any] = {}
        for p in (rule or {}).get("parameters", []):
            raw = form.get(f"param.{p['name']}")
            if raw is None or str(raw).strip() == "" or str(raw) == str(p["default"]):
                continue
            params[p["name"]] = _param_value(p["kind"], str(raw).strip())
        scope = str(form.get("scope") or user.principal.region)
        body = {"rule_id": rule_id, "budget_year": year, "scope": scope,
                "enabled": form.get("enabled") == "on", "shadow": form.get("shadow") == "on",
                "level": form.get("level") or None, "escalate_to": form.get("escalate_to") or None,
                "lead_time_days": int(str(form["lead_time_days"])) if str(form.get("lead_time_days") or "").isdigit()
                else None, "params": params,
                "checkpoints": [c.strip() for c in str(form.get("checkpoints") or "").split(",") if c.strip()]}
        try:
            await api().call(user, "PUT", "alerts", f"/v1/rules/{rule_id}/config", json=body)
        except ApiError as exc:
            n = await names(user)
            ctx = await rule_context(user, rule_id, scope, year)
            return page(request, "rule.html", user, names=n, **ctx, year=year, region=scope, years=_years(),
                        error=f"配置未被接受（{exc.status}）：{exc.message}", saved=None, form=body)
        back = urlencode({"saved": "1", "budget_year": year, "region": body["scope"]})
        return RedirectResponse(f"/rules/{rule_id}?{back}", status_code=303)

    # ------------------------------------------------------------------ 智能搜索

    @app.get("/search", response_class=HTMLResponse)
    async def search(request: Request, user: CurrentUser, q: str = "", offset: int = 0,
                     format: str | None = None) -> Response:
        q = q.strip()[:100]
        if format in ("xlsx", "csv") and q:
            return await export.stream(format, f"支付检索-{q}", export.PAYMENT_COLUMNS,
                                       _payment_rows(api(), user, {"q": q}, await names(user)))
        n = await names(user)
        hits, payments, error = None, {"items": [], "total": 0}, None
        if q:
            try:
                hits, payments = await asyncio.gather(
                    api().get(user, "ledger", "/v1/search", q=q, limit=50),
                    api().get(user, "ledger", "/v1/payments", q=q, limit=50, offset=max(offset, 0)))
            except ApiError as exc:
                error = exc.message
        return page(request, "search.html", user, names=n, q=q, hits=hits, payments=payments, offset=offset,
                    error=error)

    # ------------------------------------------------------------------ 地区, 部门, 业务组

    @app.get("/regions", response_class=HTMLResponse)
    async def regions(request: Request, user: CurrentUser, region: str | None = None,
                      budget_year: str | None = None, format: str | None = None) -> Response:
        n = await names(user)
        year = int(budget_year) if budget_year and budget_year.isdigit() else None
        where = region or user.principal.region
        try:
            tree, summary = await asyncio.gather(
                api().get(user, "ledger", "/v1/regions/tree", region=where, budget_year=year, limit=500),
                api().get(user, "alerts", "/v1/alert-summary", region=where))
        except ApiError as exc:
            return page(request, "error.html", user, message=exc.message, status=exc.status)
        by_region = _alerts_by_region(summary)
        rows = [[c["rank"], c["name"] or c["code"], c["code"], text.word(text.REGION_LEVELS, c["level"]),
                 c["scale"], c["allocated"], c["paid"], text.percent(c["progress"]),
                 by_region.get(c["code"], {}).get("red", 0), by_region.get(c["code"], {}).get("yellow", 0)]
                for c in tree["children"]["items"]]
        if format in ("xlsx", "csv"):
            return await export.stream(format, f"地区-{n.region(where)}", export.REGION_COLUMNS, _aiter(rows))
        return page(request, "regions.html", user, names=n, tree=tree, by_region=by_region, region=where, year=year,
                    years=_years(), regionmap=geo.region_map(where, tree["children"]["items"], by_region, unit_of(request), year))

    @app.get("/views/{by}", response_class=HTMLResponse)
    async def views(request: Request, user: CurrentUser, by: str, region: str | None = None,
                    budget_year: str | None = None, format: str | None = None) -> Response:
        if by not in ("departments", "groups"):
            return page(request, "error.html", user, message="没有这个视图", status=404)
        n = await names(user)
        year = int(budget_year) if budget_year and budget_year.isdigit() else None
        where = region or user.principal.region
        data = await api().get(user, "ledger", f"/v1/views/{by}", region=where, budget_year=year, limit=500)
        title = "按部门" if by == "departments" else "按业务组"
        rows = [[g["name"] or g["key"] or "（无业务组）", g["department"] or "—", n.region(g["region"]), g["scale"],
                 g["allocated"], g["paid"], text.percent(g["progress"]), g["indicators"]] for g in data["items"]]
        if format in ("xlsx", "csv"):
            return await export.stream(format, f"{title}-{n.region(where)}", export.GROUP_COLUMNS, _aiter(rows))
        return page(request, "views.html", user, names=n, data=data, by=by, title=title, region=where, year=year,
                    years=_years())

    # ------------------------------------------------------------------ 资金追溯

    @app.get("/trace/payment/{payment_id}", response_class=HTMLResponse)
    async def trace_payment(request: Request, user: CurrentUser, payment_id: str) -> HTMLResponse:
        n = await names(user)
        try:
            t = await api().get(user, "ledger", f"/v1/payments/{payment_id}/trace")
        except ApiError as exc:
            return page(request, "error.html", user, message=f"支付 {payment_id}：{exc.message}", status=exc.status)
        return page(request, "trace.html", user, names=n, t=t, flow=flows.payment_flow(t, n.region, unit_of(request)))

    @app.get("/trace/indicator/{indicator_id}", response_class=HTMLResponse)
    async def trace_indicator(request: Request, user: CurrentUser, indicator_id: str) -> HTMLResponse:
        n = await names(user)
        try:
            d = await api().get(user, "ledger", f"/v1/indicators/{indicator_id}", payments_limit=100)
        except ApiError as exc:
            return page(request, "error.html", user, message=f"指标 {indicator_id}：{exc.message}", status=exc.status)
        return page(request, "indicator.html", user, names=n, d=d, flow=flows.indicator_flow(d, n.region, unit_of(request)))

    @app.get("/payments", response_class=HTMLResponse)
    async def payments(request: Request, user: CurrentUser, region: str | None = None, indicator_id: str | None = None,
                       status: str | None = None, offset: int = 0, format: str | None = None) -> Response:
        params = {"region": region, "indicator_id": indicator_id, "status": status}
        n = await names(user)
        if format in ("xlsx", "csv"):
            return await export.stream(format, "支付明细", export.PAYMENT_COLUMNS, _payment_rows(api(), user, params, n))
        data = await api().get(user, "ledger", "/v1/payments", **params, limit=50, offset=max(offset, 0))
        return page(request, "payments.html", user, names=n, payments=data, params=params, offset=offset)

    ops_pages.register(app, page)  # 实时监控, 数据导入

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        if exc.status == 401:
            return await _login_required(request, LoginRequired())
        return page(request, "error.html", None, message=exc.message, status=exc.status)

    routing_pages.install(app, page, api, names)  # /routing 通知路由 (its own module)
    report_pages.install(app, page, api, names)  # /reports 月度报告
    return app


# ---------------------------------------------------------------------- helpers (pure or API-only)


def _years() -> list[int]:
    this = dt.datetime.now(text.SHANGHAI).year
    return [this - 2, this - 1, this, this + 1]


def _param_value(kind: str, raw: str) -> Any:
    if kind == "int":
        return int(raw) if raw.lstrip("-").isdigit() else raw  # the API names the parameter when it is not
    if kind == "bool":
        return raw.lower() in ("1", "true", "on", "是")
    return raw


def _lights(summary: dict[str, Any] | None) -> dict[str, Any]:
    """Open alerts as a traffic-light table: category → level → count, with totals per level."""
    from services.alerts.catalogue import CATEGORIES

    grid = {cat: dict.fromkeys(text.ALERT_LEVELS, 0) for cat in CATEGORIES}
    totals = dict.fromkeys(text.ALERT_LEVELS, 0)
    for c in (summary or {}).get("cells", []):
        grid.setdefault(c["category"], dict.fromkeys(text.ALERT_LEVELS, 0))[c["level"]] = c["open"]
        totals[c["level"]] = totals.get(c["level"], 0) + c["open"]
    return {"grid": [(cat, CATEGORIES.get(cat, cat), grid[cat]) for cat in grid], "totals": totals}


def _alerts_by_region(summary: dict[str, Any] | None) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for r in (summary or {}).get("regions", []):
        out.setdefault(r["region"], {})[r["level"]] = r["open"]
    return out


async def _ledger_chain(api: Api, user: User, detail: dict[str, Any]) -> dict[str, Any] | None:
    """The ledger behind an alert: the payment traced up to the top document, or the indicator's chain."""
    subject = detail["alert"]["subject"]
    kind, _, rest = subject.partition("/")
    ident = rest.split("/")[0]  # payment/ZF…/person/<hash>: the payment is the second part
    facts = [e.get("facts", {}) for e in detail.get("evidence", [])]
    payment = ident if kind == "payment" else next((f["payment_id"] for f in facts if f.get("payment_id")), None)
    indicator = ident if kind == "indicator" else next((f["indicator_id"] for f in facts if f.get("indicator_id")),
                                                       None)
    try:
        if payment:
            return {"kind": "payment", "trace": await api.get(user, "ledger", f"/v1/payments/{payment}/trace")}
        if indicator:
            d = await api.get(user, "ledger", f"/v1/indicators/{indicator}", payments_limit=1)
            return {"kind": "indicator", "indicator": d["indicator"], "chain": d["upstream"]}
    except ApiError as exc:
        return {"kind": "missing", "message": f"台账中查不到该对象（{exc.status}）：{exc.message}"}
    return None


async def _aiter(rows: list[list[Any]]):
    for row in rows:
        yield row


def _watched(detail: dict[str, Any]) -> dict[str, Any] | None:
    """The disposition the page keeps watching: one still filed, or one applied whose transition the alert
    shown does not have yet (the alert's read model lags behind the disposition's)."""
    seen = detail["alert"]["transitions"]
    for x in detail["dispositions"]:
        if x["status"] == "filed" or (x["status"] == "applied" and x.get("transition_id")
                                      and int(x["transition_id"].rsplit(".", 1)[1]) > seen):
            return x
    return None


async def _alert_rows(api: Api, user: User, params: dict[str, Any], n: Names):
    offset = 0
    while True:
        page = await api.get(user, "alerts", "/v1/alerts", **{**params, "offset": offset}, limit=500)
        for a in page["items"]:
            yield [a["alert_id"], text.word(text.ALERT_LEVELS, a["level"]), a["category_zh"], a["rule_id"], a["title_zh"],
                   n.region(a["region"]), a["region"], n.group(a["group_code"]), n.fund(a["fund_code"]),
                   text.word(text.ALERT_STATUS, a["status"]), text.local_time(a["raised_at"]), a["due"] or "",
                   a.get("findings_zh") or a["findings"]]
        offset += len(page["items"])
        if not page["items"] or offset >= page["total"]:
            return


async def _payment_rows(api: Api, user: User, params: dict[str, Any], n: Names):
    offset = 0
    while True:
        page = await api.get(user, "ledger", "/v1/payments", **{**params, "offset": offset}, limit=500)
        for p in page["items"]:
            yield [p["payment_id"], n.region(p["region"]), p["payment_date"] or "", p["amount"], p["returned"],
                   text.word(text.PAYMENT_STATUS, p["status"]), p["payer_unit_name"], p["payee_name"],
                   text.word(text.PAYEE_KINDS, p["payee_kind"]), p["payee_account"], p["purpose"], p["indicator_id"],
                   p["project_code"] or ""]
        offset += len(page["items"])
        if not page["items"] or offset >= page["total"]:
            return
