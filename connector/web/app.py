"""Assembles the FastAPI app from an AppContext."""

from __future__ import annotations

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from connector.db import require_migrated
from connector.errors import DatabaseNotMigrated
from connector.web import webhooks
from connector.web.context import AppContext


def create_app(context: AppContext) -> FastAPI:
    app = FastAPI(title="bcc-capture", version="0.1.0")
    app.state.context = context
    app.include_router(webhooks.router(context))

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    def readyz() -> Response:
        try:
            with context.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            require_migrated(context.engine)
        except DatabaseNotMigrated as exc:
            return JSONResponse({"status": "not ready", "reason": str(exc)}, status_code=503)
        except Exception as exc:  # any database failure means not ready
            return JSONResponse({"status": "not ready", "reason": type(exc).__name__}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", tags=["ops"])
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
