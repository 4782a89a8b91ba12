"""The SMTP dropbox under load: 1,000 messages from 20 concurrent SMTP clients, all spooled and filed, none lost.

`bcc-capture smtp` runs as its own process (the listener and its filing threads, as in production) on a
fresh database; a loopback DNS server publishes the sender domain's SPF, DKIM key and DMARC record, so
every message goes the whole way: RCPT check, spool commit, `250`, claim, parse, route, SPF + DKIM +
DMARC, apply, mark done. The clients are threads of this process, each with one SMTP session.

Figures: messages per second spooled (the clients' first MAIL to the last `250`) and filed (the first
spool commit to the last row marked done), and the time from `250` to filed per message (the spool
row's received_at to its filed_at, both stamped by the server process), p50/p99/max.
"""

from __future__ import annotations

import base64
import os
import re
import smtplib
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func
from sqlmodel import Session, select

from bench.common import ROOT, Run, database, parse_args, postgres_available, table, target
from connector.db import make_engine, transaction, upgrade
from connector.models import Activity, SpooledMessage
from connector.services import records, tenants, users
from emulators.dns import TxtServer

NAME = "smtp"
MATTER = "acme+10802@bcc.example.com"
SENDER = "alice@acme-law.com"


class _Static:
    def __init__(self, records_: dict[str, list[str]]) -> None:
        self.records = records_

    def txt(self, name: str) -> list[str]:
        return self.records[name]


def seed(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    with transaction(engine) as session:
        tenant = tenants.create_tenant(session, "Acme Law", "acme", domain="acme-law.com")
        tenants.verify_domain(session, tenant, _Static({"acme-law.com": [tenants.txt_record(tenant)]}))
        tenants.set_enabled(session, tenant, True)
        tenants.grant(session, tenants.get_role(session, tenant, "Standard User"))
        users.set_capture(session, users.create_user(session, tenant, SENDER, "Alice Archer"), True)
        records.create_record(session, tenant, "matter", number="10802", title="Smith v. Jones")
        records.create_record(session, tenant, "contact", email="carol@clientco.com", name="Carol Client")
    engine.dispose()


def signer() -> tuple[bytes, str]:
    """A 1024-bit key: its TXT record fits the loopback server's single 255-byte string."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption())
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem, f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"


def message(n: int, pem: bytes) -> bytes:
    raw = (f"From: Alice Archer <{SENDER}>\r\nTo: carol@clientco.com\r\nSubject: Bench note {n}\r\n"
           f"Date: Mon, 09 Mar 2026 14:30:00 +0000\r\nMessage-ID: <bench-{n}@acme-law.com>\r\n"
           f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
           f"Hello Carol,\r\n\r\nnote {n} on the settlement.\r\n" + "Some more text.\r\n" * 40).encode()
    return dkim.sign(raw, b"sel", b"acme-law.com", pem, include_headers=[b"from", b"to", b"subject", b"date",
                                                                          b"message-id"]) + raw


def start_server(url: str, dns: TxtServer, filers: int) -> tuple[subprocess.Popen[str], int]:
    env = {**os.environ, "BCC_CAPTURE_DATABASE__URL": url, "BCC_CAPTURE_SMTP__RESOLVER": f"{dns.host}:{dns.port}",
           "BCC_CAPTURE_SMTP__FILING_WORKERS": str(filers), "BCC_CAPTURE_SMTP__MAX_CONNECTIONS_PER_PEER": "100",
           "BCC_CAPTURE_SMTP__MAX_MESSAGES_PER_PEER_PER_MINUTE": "1000000"}
    process = subprocess.Popen([sys.executable, "-m", "connector.app.cli", "smtp", "--port", "0"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    found = re.search(r"listening on [\d.]+:(\d+)", line)
    if found is None:
        process.kill()
        raise RuntimeError(f"bcc-capture smtp did not start: {line!r}")
    return process, int(found.group(1))


def send_all(port: int, messages: list[bytes], clients: int) -> tuple[float, float, list[str]]:
    """Each client thread sends its share over one session; returns (start, last 250, errors)."""
    errors: list[str] = []
    last = [0.0]
    lock = threading.Lock()

    def client(share: list[bytes]) -> None:
        try:
            with smtplib.SMTP("127.0.0.1", port, local_hostname="bench.example", timeout=60) as session:
                for raw in share:
                    session.sendmail(SENDER, [MATTER], raw)
                    with lock:
                        last[0] = max(last[0], time.monotonic())
        except (smtplib.SMTPException, OSError) as exc:
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=client, args=(messages[i::clients],)) for i in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return started, last[0], errors


def wait_filed(url: str, count: int, timeout: float) -> list[tuple[datetime, datetime | None, str]]:
    engine = make_engine(url)
    deadline = time.monotonic() + timeout
    with Session(engine) as session:
        while time.monotonic() < deadline:
            done = session.exec(select(func.count()).select_from(SpooledMessage).where(
                SpooledMessage.state == "done")).one()
            if done >= count:
                break
            time.sleep(0.1)
        rows = session.exec(select(SpooledMessage.received_at, SpooledMessage.filed_at, SpooledMessage.outcome)).all()
        activities = session.exec(select(func.count()).select_from(Activity)).one()
    engine.dispose()
    assert activities == sum(1 for *_, outcome in rows if outcome == "logged"), "an activity per logged message"
    return [tuple(r) for r in rows]  # type: ignore[misc]


def measure(backend: str, count: int, clients: int, filers: int) -> dict[str, Any]:
    pem, txt = signer()
    zone = {"acme-law.com": ["v=spf1 -all"], "_dmarc.acme-law.com": ["v=DMARC1; p=reject"],
            "sel._domainkey.acme-law.com": [txt]}
    messages = [message(n, pem) for n in range(count)]
    with database(backend, NAME) as url, TxtServer(zone) as dns:
        seed(url)
        server, port = start_server(url, dns, filers)
        try:
            started, last_250, errors = send_all(port, messages, clients)
            rows = wait_filed(url, count, timeout=600)
        finally:
            server.terminate()
            server.wait(timeout=30)
    filed = [(f - r).total_seconds() for r, f, _ in rows if f is not None]
    first_received = min(r for r, _, _ in rows)
    last_filed = max((f for _, f, _ in rows if f is not None), default=first_received)
    outcomes: dict[str, int] = {}
    for *_, outcome in rows:
        outcomes[outcome or "pending"] = outcomes.get(outcome or "pending", 0) + 1
    quantiles = statistics.quantiles(filed, n=100) if len(filed) > 1 else [0.0] * 99
    return {"backend": backend, "messages": count, "clients": clients, "filers": filers, "spooled": len(rows),
            "filed": len(filed), "lost": count - len(rows), "errors": errors[:5], "outcomes": outcomes,
            "spooled_per_second": round(count / max(last_250 - started, 1e-9), 1),
            "filed_per_second": round(len(filed) / max((last_filed - first_received).total_seconds(), 1e-9), 1),
            "latency_p50_s": round(quantiles[49], 3), "latency_p99_s": round(quantiles[98], 3),
            "latency_max_s": round(max(filed, default=0.0), 3)}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(NAME, __doc__.splitlines()[0], argv, extra=[
        ("--messages", {"type": int, "default": None, "help": "messages (default 1,000; quick 100)"}),
        ("--clients", {"type": int, "default": 20, "help": "concurrent SMTP clients"}),
        ("--filers", {"type": int, "default": 2, "help": "filing threads in the server process"})])
    run_ = Run(NAME, args)
    count = args.messages or (100 if args.quick else 1_000)
    backends = (["postgresql"] if postgres_available() else []) + ["sqlite"]
    rows = [measure(backend, count, args.clients, args.filers) for backend in backends]
    table(["backend", "messages", "clients", "filers", "spooled", "filed", "lost", "spooled/s", "filed/s",
           "250→filed p50 s", "p99 s", "max s"],
          [[r["backend"], r["messages"], r["clients"], r["filers"], r["spooled"], r["filed"], r["lost"],
            r["spooled_per_second"], r["filed_per_second"], r["latency_p50_s"], r["latency_p99_s"],
            r["latency_max_s"]] for r in rows], "\nSMTP dropbox: spool and file")
    for r in rows:
        if r["errors"] or set(r["outcomes"]) != {"logged"}:
            print(f"{r['backend']}: errors {r['errors']}, outcomes {r['outcomes']}")
    targets = [target(f"{r['backend']}: none lost, every message filed once", r["filed"], f"= {count}",
                      r["filed"] == count and r["outcomes"] == {"logged": count}) for r in rows]
    figures = {"runs": rows}
    run_.save(figures, targets)
    return figures


if __name__ == "__main__":
    main()
