"""The API's documentation pages (Swagger UI at /docs, ReDoc at /redoc) served from local assets.

FastAPI's defaults load them from a CDN, which leaves a blank page on a network without internet access;
the `fastapi-offline` package (MIT) ships the same Swagger UI and ReDoc bundles, served here under /docs/assets.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
PREFIX = "/docs/assets"


def install_api_docs(app: FastAPI) -> None:
    """Mount the bundled assets and answer /docs and /redoc with pages that use only them."""
    app.mount(PREFIX, StaticFiles(directory=ASSETS), name="api-docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=openapi_url, title=f"{app.title} API",
                                   swagger_js_url=f"{PREFIX}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{PREFIX}/swagger-ui.css",
                                   swagger_favicon_url=f"{PREFIX}/favicon.png")

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=openapi_url, title=f"{app.title} API",
                              redoc_js_url=f"{PREFIX}/redoc.standalone.js", redoc_favicon_url=f"{PREFIX}/favicon.png",
                              with_google_fonts=False)
