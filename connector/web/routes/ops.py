"""Health, readiness and metrics for the orchestrator and Prometheus."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from connector.services.readiness import readiness_problem
from connector.sync.probes import count_mailboxes
from connector.web.deps import Context

router = APIRouter(tags=["ops"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(context: Context) -> Response:
    problem = readiness_problem(context.engine)
    if problem is not None:
        return JSONResponse({"status": "not ready", "reason": problem}, status_code=503)
    return JSONResponse({"status": "ready"})


@router.get("/metrics")
def metrics(context: Context) -> Response:
    count_mailboxes(context.engine)  # the mailboxes-by-state and spool gauges, as of this scrape
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
