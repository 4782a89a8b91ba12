"""`kill -9` of filing worker processes while they file spooled mail: afterwards every message is filed exactly once.

The listener spools the messages (each `250` means a committed row); `bcc-capture smtp --filing-only`
processes on PostgreSQL file them and are killed with SIGKILL three times at different moments, a new
one started each time. A killed filer's open transaction dies with its connection: its row goes back to
pending with nothing written, and the next filer takes it.
"""

from __future__ import annotations

import os
import signal
import smtplib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from connector.db import make_engine, upgrade
from connector.dropbox.server import DropboxServer
from connector.models import Activity, ActivitySource, AuditEntry, SpooledMessage
from tests.conftest import build_world
from tests.connector.dropbox.conftest import KEYS, MATTER, DnsServer, crlf, smtp_settings
from tests.mailbuilder import mail

ROOT = Path(__file__).resolve().parents[3]
MESSAGES = 150


def _filer(url: str, dns_server: DnsServer) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BCC_CAPTURE_DATABASE__URL": url,
           "BCC_CAPTURE_SMTP__RESOLVER": f"{dns_server.host}:{dns_server.port}",
           "BCC_CAPTURE_SMTP__FILING_WORKERS": "2", "BCC_CAPTURE_SMTP__FILING_POLL_SECONDS": "0.05"}
    return subprocess.Popen([sys.executable, "-m", "connector.app.cli", "smtp", "--filing-only"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _count(engine: object, statement: object) -> int:
    with Session(engine) as session:  # type: ignore[arg-type]
        return int(session.exec(statement).one())  # type: ignore[call-overload]


@pytest.fixture
def spooled(fresh_pg_url: str, dns_server: DnsServer) -> Iterator[str]:
    engine = make_engine(fresh_pg_url)
    upgrade(engine)
    build_world(engine)
    settings = smtp_settings(dns_server, max_messages_per_peer_per_minute=10_000)
    with DropboxServer(engine, settings, filers=0) as server:
        assert server.listener is not None
        with smtplib.SMTP("127.0.0.1", server.listener.port, timeout=10) as client:
            for n in range(MESSAGES):
                raw = KEYS["acme-law.com"].sign(mail("alice@acme-law.com", ["carol@clientco.com"], subject=f"Note {n}",
                                                     message_id=f"<note-{n}@acme-law.com>"))
                client.sendmail("alice@acme-law.com", [MATTER], crlf(raw))
    engine.dispose()
    yield fresh_pg_url


@pytest.mark.timeout(240)
def test_filers_killed_mid_way_lose_nothing_and_file_nothing_twice(spooled: str, dns_server: DnsServer) -> None:
    engine = make_engine(spooled)
    done = select(func.count()).select_from(SpooledMessage).where(SpooledMessage.state == "done")
    kills = []
    for threshold in (10, 50, 90):
        process = _filer(spooled, dns_server)
        deadline = time.monotonic() + 60
        while _count(engine, done) < threshold and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        kills.append(_count(engine, done))
    assert kills[-1] < MESSAGES, f"a filer finished before it could be killed ({kills})"
    last = _filer(spooled, dns_server)
    try:
        deadline = time.monotonic() + 120
        while _count(engine, done) < MESSAGES and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        last.send_signal(signal.SIGTERM)
        last.wait(timeout=30)
    assert _count(engine, done) == MESSAGES, f"done after the kills at {kills}"
    with Session(engine) as session:
        outcomes = session.exec(select(SpooledMessage.outcome, func.count()).group_by(SpooledMessage.outcome)).all()
        assert dict(outcomes) == {"logged": MESSAGES}
        assert session.exec(select(func.count(func.distinct(Activity.internet_message_id)))).one() == MESSAGES
        assert session.exec(select(func.count()).select_from(Activity)).one() == MESSAGES
        assert session.exec(select(func.count()).select_from(ActivitySource)).one() == MESSAGES
        actions = dict(session.exec(select(AuditEntry.action, func.count()).group_by(AuditEntry.action)).all())
        assert actions == {"logged": MESSAGES}  # no duplicate: no message was filed a second time
    engine.dispose()


def _listener(url: str, dns_server: DnsServer, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BCC_CAPTURE_DATABASE__URL": url,
           "BCC_CAPTURE_SMTP__RESOLVER": f"{dns_server.host}:{dns_server.port}",
           "BCC_CAPTURE_SMTP__FILING_WORKERS": "1", "BCC_CAPTURE_SMTP__FILING_POLL_SECONDS": "0.05"}
    process = subprocess.Popen([sys.executable, "-m", "connector.app.cli", "smtp", "--port", str(port)], cwd=ROOT,
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=2):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("the listener did not start")


@pytest.mark.timeout(240)
def test_the_listener_killed_during_data_and_right_after_250_loses_nothing_and_files_nothing_twice(
        fresh_pg_url: str, dns_server: DnsServer) -> None:
    from connector.web.server import free_port

    engine = make_engine(fresh_pg_url)
    upgrade(engine)
    build_world(engine)
    port = free_port()
    during = crlf(KEYS["acme-law.com"].sign(mail("alice@acme-law.com", ["carol@clientco.com"], subject="During DATA",
                                                 message_id="<during@acme-law.com>")))
    after = crlf(KEYS["acme-law.com"].sign(mail("alice@acme-law.com", ["carol@clientco.com"], subject="After 250",
                                                message_id="<after@acme-law.com>")))
    listener = _listener(fresh_pg_url, dns_server, port)
    client = smtplib.SMTP("127.0.0.1", port, timeout=10)  # a sender killed mid-DATA: no 250, so it retries
    client.ehlo("mx.acme-law.com")
    client.mail("alice@acme-law.com")
    client.rcpt(MATTER)
    assert client.docmd("DATA")[0] == 354
    client.send(during[: len(during) // 2])
    os.kill(listener.pid, signal.SIGKILL)
    listener.wait(timeout=10)
    client.close()
    listener = _listener(fresh_pg_url, dns_server, port)
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as retry:
        retry.sendmail("alice@acme-law.com", [MATTER], during)  # the retry the missing 250 asks for
        retry.sendmail("alice@acme-law.com", [MATTER], after)
    os.kill(listener.pid, signal.SIGKILL)  # right after the 250: the sender will not send it again
    listener.wait(timeout=10)
    listener = _listener(fresh_pg_url, dns_server, port)  # files what was spooled before the kill
    try:
        filed = select(func.count()).select_from(Activity)
        deadline = time.monotonic() + 60
        while _count(engine, filed) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        listener.send_signal(signal.SIGTERM)
        listener.wait(timeout=30)
    with Session(engine) as session:
        ids = sorted(session.exec(select(Activity.internet_message_id)).all())
        assert ids == ["<after@acme-law.com>", "<during@acme-law.com>"]  # each filed, once
        assert session.exec(select(func.count()).select_from(SpooledMessage)).one() == 2  # the half DATA stored nothing
    engine.dispose()
