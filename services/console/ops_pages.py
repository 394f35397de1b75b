"""实时监控 (/monitor) and 数据导入 (/imports): the operators' stream page and the table upload.

实时监控 reads, with the user's token, ingest's `GET /v1/streams` (records per topic, the alerts
router's and agent's lag, events per client and family, the newest input events), and each
projection's Prometheus `/metrics` (lag and applied events of the ledger, the alerts read model,
notify). Rates are deltas of those counters between two readings kept here (`Sampler`), never
estimated. Dead letters: ingest's `/v1/deadletters` list and replay, refusals in its words.

数据导入 downloads ingest's templates and uploads a filled one to `POST /v1/imports/{name}` under
the user's login; all of that HTTP is in `IngestTables` (one place to follow the import API)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import httpx
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from prometheus_client.parser import text_string_to_metric_families
from starlette.datastructures import UploadFile

from services.console.session import Api, ApiError, User, current_user
from services.runtime.settings import Settings

CurrentUser = Annotated[User, Depends(current_user)]
WINDOW_S = 30.0  # a rate is taken over the readings of the last half minute
MIN_SPAN_S = 1.0  # two readings closer than this give no rate (too noisy)
PROJECTIONS = (("ledger", "ledger", "台账（ledger）"), ("alerts", "alerts", "预警读模型（alerts）"),
               ("notify", "notify", "通知（notify）"))
WORKERS = {"alerts router": "预警路由（alerts router）", "alerts agent": "预警引擎（alerts agent）"}
FAMILIES_ZH = {"reference": "基础数据", "indicator": "指标", "payment": "支付", "performance": "绩效",
               "ledger": "台账分录", "alert": "预警", "notification": "通知", "alert-command": "处理单指令",
               "rule-config": "规则配置", "deadletter": "死信", "audit": "审计", "internal": "内部"}
EVENT_TYPES_ZH = {
    "region.registered": "区划登记", "fund.registered": "资金登记", "fund.linked": "资金关联",
    "project.registered": "项目入库", "group.assigned": "业务组分工", "account.registered": "账户登记",
    "household.registered": "贫困人口登记", "external.recorded": "外部数据", "indicator.registered": "指标登记",
    "indicator.issued": "指标下达", "indicator.allocated": "指标分配", "indicator.corrected": "指标调整",
    "indicator.compiled": "指标汇编", "payment.planned": "用款计划", "payment.made": "支付",
    "payment.returned": "支付退回", "performance.targets_set": "绩效目标", "performance.progress_reported": "绩效进度",
    "performance.self_evaluated": "绩效自评"}
CONSUMERS_ZH = {"ingest intake": "Kafka 接入（ingest intake）"}
TEMPLATE_ORDER = ("indicator-issued", "indicator-registered", "indicator-allocated", "payments", "subsidy-lines",
                  "households", "projects")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv"


# ---------------------------------------------------------------------- rates (pure)


@dataclass
class Reading:
    at: float  # time.monotonic() of the reading
    counters: dict[str, int]  # "topic:<name>", "source:<client>|<family>", "applied:<service>"


@dataclass
class Sampler:
    """The readings of the last `WINDOW_S` per key (the user's region: what its scope shows)."""

    readings: dict[str, deque[Reading]] = field(default_factory=dict)

    def add(self, key: str, reading: Reading) -> Reading | None:
        """Keep `reading`; the oldest one in the window to take rates against (None: none yet)."""
        kept = self.readings.setdefault(key, deque(maxlen=64))
        while kept and reading.at - kept[0].at > WINDOW_S:
            kept.popleft()
        base = kept[0] if kept and reading.at - kept[0].at >= MIN_SPAN_S else None
        kept.append(reading)
        return base


def rates(base: Reading | None, now: Reading) -> dict[str, float | None]:
    """Per counter, (now − base) / seconds between them; None without a base or after a reset."""
    out: dict[str, float | None] = {}
    for name, value in now.counters.items():
        if base is None:
            out[name] = None
            continue
        before = base.counters.get(name, 0)
        out[name] = (value - before) / (now.at - base.at) if value >= before else None
    return out


def rate_text(value: float | None) -> str:
    return "计算中…" if value is None else f"{value:,.1f}"


def metric_sums(text: str, name: str, by: str) -> dict[str, float]:
    """Sum of the samples of metric `name` per value of label `by` in a Prometheus exposition."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name:
                key = s.labels.get(by, "")
                out[key] = out.get(key, 0.0) + s.value
    return out


def topic_label(topic: str, family: str) -> str:
    if family == "intake":  # fundwatch.intake.<family>.v1
        parts = topic.split(".")
        return f"上游接入 · {FAMILIES_ZH.get(parts[-2], parts[-2]) if len(parts) >= 3 else topic}"
    return FAMILIES_ZH.get(family, family)


# ---------------------------------------------------------------------- ingest's table API, in one place


@dataclass
class Uploaded:
    status: int
    body: dict[str, Any]


class IngestTables:
    """Ingest's templates and imports (docs/integration.md, "Tables"), with the user's login."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self.base, self.http = settings.url("ingest"), http

    async def templates(self) -> list[dict[str, Any]]:
        r = await self.http.get(f"{self.base}/v1/templates")
        r.raise_for_status()
        items = {t["name"]: t for t in r.json()["items"]}
        return [items[n] for n in TEMPLATE_ORDER if n in items] + [t for n, t in items.items() if n not in TEMPLATE_ORDER]

    async def template(self, name: str, fmt: str) -> httpx.Response:
        return await self.http.get(f"{self.base}/v1/templates/{quote(name)}", params={"format": fmt})

    async def upload(self, user: User, name: str, file: UploadFile, kind: str) -> Uploaded:
        """Send the uploaded file (spooled by the console) on in 1 MB chunks: not held in memory whole."""
        async def chunks() -> AsyncIterator[bytes]:
            await file.seek(0)
            while chunk := await file.read(1 << 20):
                yield chunk

        headers = {"Authorization": f"Bearer {user.token}", "Content-Type": kind}
        if file.size is not None:
            headers["Content-Length"] = str(file.size)
        r = await self.http.post(f"{self.base}/v1/imports/{quote(name)}", content=chunks(), timeout=600,
                                 headers=headers)
        try:
            data = r.json()
        except ValueError:
            data = {"detail": r.text}
        return Uploaded(r.status_code, data if isinstance(data, dict) else {"detail": data})


def kind_of(filename: str, content_type: str | None) -> str | None:
    lower = filename.lower()
    if lower.endswith(".xlsx"):
        return XLSX
    if lower.endswith(".csv"):
        return CSV
    return content_type if content_type in (XLSX, CSV) else None


UPLOAD_WORDS = {202: "导入成功", 401: "登录无效", 403: "无权导入", 404: "没有这个模板", 409: "该文件已导入过，本次未重复导入",
                413: "文件过大", 415: "文件类型不支持", 422: "文件有错误，未导入任何数据", 503: "事件日志暂不可用，未导入"}


# ---------------------------------------------------------------------- the pages


def register(app: FastAPI, page: Callable[..., HTMLResponse]) -> None:
    """Add 实时监控 and 数据导入 to the console (`page` renders a template with the user)."""
    sampler = Sampler()
    lock = asyncio.Lock()

    def api() -> Api:
        return app.state.api

    def tables() -> IngestTables:
        return IngestTables(app.state.settings, app.state.http)

    async def scrape(service: str) -> str | None:
        with contextlib.suppress(httpx.HTTPError):
            r = await app.state.http.get(f"{app.state.settings.url(service)}/metrics", timeout=5)
            if r.status_code == 200:
                return r.text
        return None

    async def monitor_context(user: User) -> dict[str, Any]:
        error = None
        try:
            streams = await api().get(user, "ingest", "/v1/streams", latest=20)
        except ApiError as exc:
            error, streams = f"接入服务（{exc.status}）：{exc.message}", None
        expositions = await asyncio.gather(*(scrape(s) for _, s, _ in PROJECTIONS))
        counters: dict[str, int] = {}
        lags: list[dict[str, Any]] = []
        for (key, _service, label), text in zip(PROJECTIONS, expositions, strict=True):
            if text is None:
                lags.append({"key": key, "label": label, "lag": None, "state": "未运行或无法连接"})
                continue
            lag = metric_sums(text, "fundwatch_consumer_lag", "service").get(key)
            applied = metric_sums(text, "fundwatch_events_applied_total", "service").get(key, 0.0)
            counters[f"applied:{key}"] = int(applied)
            lags.append({"key": key, "label": label, "lag": None if lag is None else int(lag),
                         "state": "运行中" if lag is not None else "运行中（尚未读取）"})
        if streams is not None:
            for g in streams["groups"]:
                lags.append({"key": g["service"].replace(" ", "-"), "label": WORKERS.get(g["service"], g["service"]),
                             "lag": g["lag"], "state": "运行中" if g["committed"] else "尚未提交位点"})
            for t in streams["topics"]:
                counters[f"topic:{t['topic']}"] = t["records"]
            for s in streams["sources"]:
                counters[f"source:{s['client_id']}|{s['family']}"] = s["events"]
        reading = Reading(time.monotonic(), counters)
        async with lock:
            base = sampler.add(user.principal.region, reading)
        r = rates(base, reading)
        window = None if base is None else round(reading.at - base.at, 1)
        topics = [] if streams is None else [
            {**t, "label": topic_label(t["topic"], t["family"]), "rate": r.get(f"topic:{t['topic']}")}
            for t in streams["topics"]]
        sources = [] if streams is None else [
            {**s, "family_zh": FAMILIES_ZH.get(s["family"], s["family"]),
             "rate": r.get(f"source:{s['client_id']}|{s['family']}")} for s in streams["sources"]]
        for row in lags:
            row["rate"] = r.get(f"applied:{row['key']}")
        return {"streams": streams, "topics": topics, "sources": sources, "lags": lags, "window": window,
                "latest": streams["latest"] if streams else [], "stream_error": error}

    async def deadletters_context(user: User, q: Any) -> dict[str, Any]:
        state = q.get("state", "open")
        params = {"replayed": {"open": "false", "replayed": "true"}.get(state), "consumer": q.get("consumer") or None,
                  "limit": 100}
        try:
            letters = await api().get(user, "ingest", "/v1/deadletters", **params)
            return {"letters": letters, "dl_error": None, "dl_state": state, "dl_consumer": q.get("consumer") or ""}
        except ApiError as exc:
            return {"letters": None, "dl_error": f"死信（{exc.status}）：{exc.message}", "dl_state": state,
                    "dl_consumer": q.get("consumer") or ""}

    async def region_names(user: User) -> None:
        with contextlib.suppress(ApiError):  # the system administrator reads no fiscal data: codes then
            await app.state.names.load(api(), user)

    def common(user: User) -> dict[str, Any]:
        return {"FAMILIES_ZH": FAMILIES_ZH, "EVENT_TYPES_ZH": EVENT_TYPES_ZH, "CONSUMERS_ZH": CONSUMERS_ZH,
                "rate_text": rate_text, "names": app.state.names}

    @app.get("/monitor", response_class=HTMLResponse)
    async def monitor(request: Request, user: CurrentUser) -> HTMLResponse:
        await region_names(user)
        ctx, dl = await asyncio.gather(monitor_context(user), deadletters_context(user, request.query_params))
        return page(request, "monitor.html", user, **common(user), **ctx, **dl, q=request.query_params,
                    replayed=request.query_params.get("replayed"), replay_error=None, fixed_for=None)

    @app.get("/monitor/live", response_class=HTMLResponse)
    async def monitor_live(request: Request, user: CurrentUser) -> HTMLResponse:
        """The streams' part of the page, fetched again every few seconds (live updates)."""
        await region_names(user)
        return page(request, "monitor_live.html", user, **common(user), **await monitor_context(user))

    @app.post("/monitor/deadletters/{letter_id}/replay", response_class=HTMLResponse)
    async def replay(request: Request, user: CurrentUser, letter_id: int) -> Response:
        form = await request.form()
        fixed = str(form.get("event") or "").strip()
        body: dict[str, Any] | None = None
        error = None
        if form.get("copy") == "fixed":
            try:
                body = {"event": json.loads(fixed)}
                if not isinstance(body["event"], dict):
                    error = "修正后的事件必须是一个 JSON 对象"
            except ValueError as exc:
                error = f"修正后的事件不是有效的 JSON：{exc}"
        if error is None:
            try:
                done = await api().call(user, "POST", "ingest", f"/v1/deadletters/{letter_id}/replay", json=body)
                back = urlencode({"replayed": f"{letter_id}:{','.join(done['replayed_ids'])}", "state": "all"})
                return RedirectResponse(f"/monitor?{back}#deadletters", status_code=303)
            except ApiError as exc:
                error = f"重放未被接受（{exc.status}）：{exc.message}"
        ctx, dl = await asyncio.gather(monitor_context(user), deadletters_context(user, request.query_params))
        return page(request, "monitor.html", user, **common(user), **ctx, **dl, q=request.query_params, replayed=None,
                    replay_error={"letter_id": letter_id, "message": error},
                    fixed_for={letter_id: fixed} if form.get("copy") == "fixed" else {})

    # ------------------------------------------------------------------ 数据导入

    @app.get("/imports", response_class=HTMLResponse)
    async def imports(request: Request, user: CurrentUser) -> HTMLResponse:
        return page(request, "imports.html", user, templates=await tables().templates(), result=None, chosen=None)

    @app.get("/imports/templates/{name}")
    async def template(user: CurrentUser, name: str, format: str = "xlsx") -> Response:
        r = await tables().template(name, "csv" if format == "csv" else "xlsx")
        if r.status_code != 200:
            raise ApiError(r.status_code, r.json().get("detail", r.text))
        items = {t["name"]: t for t in await tables().templates()}
        ext = "csv" if format == "csv" else "xlsx"
        filename = f"{items.get(name, {}).get('title', name)}-导入模板.{ext}"
        return Response(r.content, media_type=r.headers.get("content-type"),
                        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"})

    @app.post("/imports", response_class=HTMLResponse)
    async def upload(request: Request, user: CurrentUser) -> HTMLResponse:
        form = await request.form()
        name = str(form.get("template") or "")
        file = form.get("file")
        items = await tables().templates()
        result: dict[str, Any]
        if not isinstance(file, UploadFile) or not file.filename:
            result = {"status": 0, "words": "请选择要上传的文件", "detail": "", "errors": []}
        else:
            kind = kind_of(file.filename, file.content_type)
            if kind is None:
                result = {"status": 415, "words": UPLOAD_WORDS[415],
                          "detail": "请上传 .xlsx 或 .csv 文件（即下载的模板填好后的文件）", "errors": []}
            else:
                sent = await tables().upload(user, name, file, kind)
                result = {"status": sent.status, "words": UPLOAD_WORDS.get(sent.status, "导入失败"),
                          "detail": sent.body.get("detail", ""), "errors": sent.body.get("errors") or [],
                          "rows": sent.body.get("rows"), "accepted": sent.body.get("accepted"),
                          "sha256": sent.body.get("sha256"), "filename": file.filename}
        return page(request, "imports.html", user, templates=items, result=result, chosen=name)
