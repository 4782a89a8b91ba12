"""`bcc-capture serve` with ``smtp.enabled``: one process takes mail by SMTP and from an inbound-mail service,
files both, and on SIGTERM stops the listener, the filers and the workers and exits cleanly."""

from __future__ import annotations

import os
import signal
import smtplib
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlmodel import Session, select

from connector.db import make_engine, upgrade
from connector.models import SpooledMessage
from connector.web.server import free_port
from tests.conftest import build_world
from tests.connector.dropbox import inbound_calls as calls
from tests.connector.dropbox.conftest import MATTER, DnsServer
from tests.connector.dropbox.inbound_front import ALICE, signed

ROOT = Path(__file__).resolve().parents[3]


def _wait_for_line(process: subprocess.Popen[str], text: str, timeout: float = 60) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline() if process.stdout else ""
        if not line and process.poll() is not None:
            break
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"{text!r} never came: {''.join(lines)}")


def _answering(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _filed(engine: object, count: int, timeout: float = 30) -> list[SpooledMessage]:
    deadline = time.monotonic() + timeout
    while True:
        with Session(engine) as session:  # type: ignore[arg-type]
            rows = list(session.exec(select(SpooledMessage)).all())
        if (len(rows) == count and all(r.state == "done" for r in rows)) or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def test_serve_runs_the_smtp_dropbox_beside_the_web_app_and_stops_cleanly(tmp_path: Path,
                                                                          dns_server: DnsServer) -> None:
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    engine = make_engine(url)
    upgrade(engine)
    build_world(engine)
    smtp_port, web_port = free_port(), free_port()
    env = {**os.environ, "BCC_CAPTURE_DATABASE__URL": url, "BCC_CAPTURE_SMTP__ENABLED": "true",
           "BCC_CAPTURE_SMTP__PORT": str(smtp_port), "BCC_CAPTURE_SMTP__RESOLVER": dns_server.address,
           "BCC_CAPTURE_SMTP__FILING_POLL_SECONDS": "0.1",
           "BCC_CAPTURE_INBOUND__MAILGUN_SIGNING_KEY": calls.MAILGUN_KEY,
           "BCC_CAPTURE_SECRET_KEY": "q2Yl8kW0yYc2m0o8kH1Q3O6t7m7wz4yqfQ2d3QxT6Ds="}
    process = subprocess.Popen([sys.executable, "-m", "connector.app.cli", "serve", "--port", str(web_port)],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        started = _wait_for_line(process, "serving on")
        assert any(f"smtp dropbox listening on 127.0.0.1:{smtp_port} with 2 filer(s)" in line for line in started)
        _answering(f"http://127.0.0.1:{web_port}/healthz")
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
            assert client.sendmail(ALICE, [MATTER], signed("By SMTP")) == {}
        call = calls.mailgun(signed("Through Mailgun"), MATTER)
        answer = httpx.post(f"http://127.0.0.1:{web_port}{call.path}", content=call.content, headers=call.headers,
                            timeout=10)
        assert answer.status_code == 200
        rows = _filed(engine, 2)
        assert [(r.state, r.outcome) for r in rows] == [("done", "logged"), ("done", "logged")]
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert output.rstrip().endswith("stopped")
