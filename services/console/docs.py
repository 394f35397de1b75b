"""/docs (Swagger UI) and /redoc of every service with their scripts served by the service itself
(vendored by `make install`, services/console/vendor.sh): FastAPI's own pages load them from a CDN
and are blank on an offline intranet."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

VENDOR = Path(__file__).resolve().parent / "static" / "vendor"
ASSETS = "/_docs-assets"
DOC_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc")


def use_local_docs(app: FastAPI) -> None:
    """Replace the app's CDN-backed documentation pages by ones using the vendored assets."""
    if not app.openapi_url or not (app.docs_url or app.redoc_url):
        return
    app.router.routes = [r for r in app.router.routes if getattr(r, "path", None) not in DOC_PATHS]
    if not (VENDOR / "swagger-ui-bundle.js").exists():
        missing = "API 文档的本地资源缺失：请运行 make install（services/console/vendor.sh）。"

        async def no_assets() -> HTMLResponse:
            return HTMLResponse(f"<!doctype html><meta charset=utf-8><p>{missing}</p>", status_code=503)

        for path in ("/docs", "/redoc"):
            app.add_api_route(path, no_assets, include_in_schema=False)
        return
    app.mount(ASSETS, StaticFiles(directory=str(VENDOR)), name="docs-assets")
    title, openapi = app.title, app.openapi_url

    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=openapi, title=f"{title} — API 文档",
                                   swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{ASSETS}/swagger-ui.css", swagger_favicon_url="data:,",
                                   swagger_ui_parameters={"validatorUrl": None})  # no badge from swagger.io

    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=openapi, title=f"{title} — ReDoc", redoc_js_url=f"{ASSETS}/redoc.standalone.js",
                              redoc_favicon_url="data:,", with_google_fonts=False)

    app.add_api_route("/docs", swagger, include_in_schema=False)
    app.add_api_route("/redoc", redoc, include_in_schema=False)
