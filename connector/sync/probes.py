"""A worker process's own /healthz, /readyz and /metrics, for the orchestrator and Prometheus.

Workers have no web app, so a small WSGI server (standard library, one daemon thread) answers:
``/healthz`` while the process lives, ``/readyz`` when the database answers with the current schema
and the sync loop ticked recently, ``/metrics`` this process's Prometheus registry.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from connector.models import Mailbox, MailboxState, SpooledMessage, SpoolState
from connector.services.readiness import readiness_problem
from connector.sync import metrics

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class Heartbeat:
    """When the sync loop last went round (monotonic seconds)."""

    def __init__(self) -> None:
        self.at = time.monotonic()

    def beat(self) -> None:
        self.at = time.monotonic()

    def stale(self, allowed: float) -> bool:
        return time.monotonic() - self.at > allowed


def count_mailboxes(engine: Engine) -> None:
    """Set the mailboxes-by-state gauge (every state, so a state that emptied shows 0) and the spool depth."""
    with Session(engine) as session:
        counts = dict(session.exec(select(Mailbox.state, func.count()).group_by(Mailbox.state)).all())
        waiting = session.exec(select(func.count()).select_from(SpooledMessage)
                               .where(SpooledMessage.state == SpoolState.PENDING.value)).one()
    for state in MailboxState:
        metrics.MAILBOXES.labels(state.value).set(counts.get(state.value, 0))
    metrics.SPOOL_DEPTH.set(waiting)


def _app(engine: Engine, heartbeat: Heartbeat, allowed: float) -> Callable[[dict[str, Any], StartResponse],
                                                                            Iterable[bytes]]:
    def answer(environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            count_mailboxes(engine)  # gauges read at scrape time, so they are never older than the scrape
            start("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
            return [generate_latest()]
        if path == "/healthz":
            status, body = "200 OK", {"status": "ok"}
        elif path == "/readyz":
            problem = readiness_problem(engine) or ("the sync loop is stuck" if heartbeat.stale(allowed) else None)
            status, body = (("503 Service Unavailable", {"status": "not ready", "reason": problem}) if problem
                            else ("200 OK", {"status": "ready"}))
        else:
            status, body = "404 Not Found", {"error": "not found"}
        start(status, [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]

    return answer


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # probes every few seconds: not worth a log line
        pass


def serve(engine: Engine, heartbeat: Heartbeat, host: str, port: int, allowed: float) -> WSGIServer:
    """Start answering on ``host:port`` (0: any free port) in a daemon thread; returns the server."""
    server = make_server(host, port, _app(engine, heartbeat, allowed), handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, name="probes", daemon=True).start()
    return server
