"""The alerts HTTP API (OpenAPI at /docs): alert inbox with filters, alert detail with its full
history and evidence, dispositions (处理单) by the responsible group, the rule catalogue and its
configuration per budget year. Scoped by region like the ledger (three-tier principals)."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerts.api import alerts, attachments, dispositions, history, rules
from services.runtime.http import limit_bodies
from services.runtime.openapi import documented
from services.runtime.projection import Projection
from services.runtime.settings import Settings


def create_app(engine: AsyncEngine, settings: Settings, projection: Projection | None = None) -> FastAPI:
    app = FastAPI(title="fundwatch alerts", version="1",
                  description="预警规则、三级预警（黄色警铃→黄灯→红灯→绿灯）与处理单")
    app.state.engine = engine
    app.state.settings = settings
    app.state.projection = projection
    limit_bodies(app, settings.max_body_bytes, settings.max_json_depth,
                 paths={r"/v1/alerts/[^/]+/attachments": attachments.MAX_BYTES + (64 << 10)})  # the file and its form
    for module in (alerts, attachments, dispositions, history, rules):
        app.include_router(module.router)
    return documented(app, {
        "POST /v1/alerts/{alert_id}/dispositions": {
            "409": "the alert's state does not allow this disposition (the life cycle's rule)"},
    })
