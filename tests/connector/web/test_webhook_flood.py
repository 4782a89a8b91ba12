"""A flood of forged webhook calls while real mail arrives: Alice's and Bob's Outlook mailboxes are connected
through the Microsoft emulator, whose notifications reach the real app over loopback HTTP while a few
threads post forged, malformed, oversized and overcrowded calls to the same endpoint. Every forged
call is refused with its reason, and every real message is filed — counts are bounded, no timings."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connector.crypto import TokenCipher
from connector.models import AuditEntry, Mailbox
from connector.sync.engine import SyncEngine
from connector.sync.worker import Worker
from connector.web.context import AppContext
from connector.web.server import free_port, serving
from emulators.graph import GraphEmulator
from providers.graph.adapter import GraphProvider
from providers.graph.push import GraphNotificationParser
from tests import inspect_db as db
from tests.conftest import build_world
from tests.mailbuilder import mail
from tests.providers.graph.conftest import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, TENANT
from tests.providers.graph.office import connect_by_consent, connector_settings

KEY = b"q2Yl8kW0yYc2m0o8kH1Q3O6t7m7wz4yqfQ2d3QxT6Ds="
THREADS, CALLS_EACH = 6, 30  # 180 forged calls
HANG_GUARD = 60.0  # seconds before a stuck story fails instead of hanging (not a performance promise)
pytestmark = pytest.mark.timeout(300)


@dataclass
class Office:
    emulator: GraphEmulator
    worker: Worker
    engine: Engine
    url: str
    subscriptions: list[str]


@pytest.fixture
def office(engine: Engine) -> Iterator[Office]:
    build_world(engine)
    emulator = GraphEmulator(seed=11)
    urls = emulator.start()
    try:
        for address, name in (("alice@acme-law.com", "Alice Archer"), ("bob@acme-law.com", "Bob Baker")):
            emulator.add_user(address, name, TENANT)
        emulator.register_app(CLIENT_ID, CLIENT_SECRET, [REDIRECT_URI])
        emulator.set_consent("approve")
        port = free_port()
        settings = connector_settings(urls, port)
        provider = GraphProvider(settings, clock=datetime.now)
        cipher = TokenCipher(KEY)
        for address in ("alice@acme-law.com", "bob@acme-law.com"):
            connect_by_consent(engine, provider, urls, address, cipher)
        worker = Worker(engine, settings, SyncEngine(engine, settings, {"graph": provider}, cipher),
                        {"graph": provider}, owner="flood-worker")
        context = AppContext(engine, settings, {"graph": GraphNotificationParser()}, webhook_max_bytes=64 * 1024,
                             webhook_max_items=20)
        with serving(context, port) as served:
            assert worker.tick_schedules() == 2  # subscriptions created: the validation handshake answered
            worker.run_once()  # the initial cursors; from now on only a wake-up makes a mailbox due
            with Session(engine) as session:
                subscriptions = [str(m.subscription_id) for m in session.exec(select(Mailbox))]
            yield Office(emulator, worker, engine, served, subscriptions)
    finally:
        emulator.stop()


def forgeries(office: Office) -> list[tuple[str, int, Callable[[httpx.Client], httpx.Response]]]:
    """Each kind of forged call: the reason it is refused with, its status, and how to send it."""
    def notification(subscription: str, state: str) -> dict[str, object]:
        return {"subscriptionId": subscription, "clientState": state, "changeType": "created",
                "resource": "Users/x/Messages/y", "tenantId": TENANT}

    real = office.subscriptions[0]
    return [
        ("client_state_mismatch", 403,
         lambda c: c.post("/webhooks/graph", json={"value": [notification(real, "guessed")]})),
        ("unknown_subscription", 404,
         lambda c: c.post("/webhooks/graph", json={"value": [notification("sub-guess", "guessed")]})),
        ("malformed", 400, lambda c: c.post("/webhooks/graph", content=b"{not json")),
        ("malformed", 400, lambda c: c.post("/webhooks/graph", content=b"[" * 30_000 + b"]" * 30_000)),
        ("too_many_items", 413,
         lambda c: c.post("/webhooks/graph", json={"value": [notification(real, f"g{n}") for n in range(21)]})),
        ("too_large", 413, lambda c: c.post("/webhooks/graph", content=json.dumps({"pad": "x" * 70_000}))),
    ]


def test_real_notifications_are_filed_during_a_flood_of_forged_ones(office: Office) -> None:
    kinds = forgeries(office)
    answered: Counter[tuple[str, int]] = Counter()
    expected: Counter[tuple[str, int]] = Counter()
    lock, flooding = threading.Lock(), threading.Barrier(THREADS + 1)

    def flood(offset: int) -> None:
        with httpx.Client(base_url=office.url, timeout=HANG_GUARD) as client:
            for n in range(CALLS_EACH):
                if n == 3:
                    flooding.wait(HANG_GUARD)  # every thread is flooding: now the real mail goes out
                reason, status, send = kinds[(offset + n) % len(kinds)]
                reply = send(client)
                with lock:
                    expected[(reason, status)] += 1
                    answered[(reason, reply.status_code)] += 1

    threads = [threading.Thread(target=flood, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    flooding.wait(HANG_GUARD)
    real = {"<flood-1@acme-law.com>": ("alice@acme-law.com", mail(
                "Alice Archer <alice@acme-law.com>", ["carol@clientco.com"], bcc=["acme+10802@bcc.example.com"],
                subject="During the flood", message_id="<flood-1@acme-law.com>")),
            "<flood-2@clientco.com>": ("carol@clientco.com", mail(
                "Carol Client <carol@clientco.com>", ["alice@acme-law.com"], subject="Re: During the flood",
                message_id="<flood-2@clientco.com>", in_reply_to="<flood-1@acme-law.com>",
                references=["<flood-1@acme-law.com>"])),
            "<flood-3@acme-law.com>": ("bob@acme-law.com", mail(
                "Bob Baker <bob@acme-law.com>", ["carol@clientco.com"], bcc=["1001.acme@bcc.example.com"],
                subject="Also during the flood", message_id="<flood-3@acme-law.com>"))}
    for sender, raw in real.values():
        office.emulator.post_office.send(sender, raw)
    for thread in threads:
        thread.join(HANG_GUARD)

    assert answered == expected  # every forged call refused, each with its own status, none a 5xx
    deadline = time.monotonic() + HANG_GUARD
    while not all(db.logged(office.engine, imid) for imid in real) and time.monotonic() < deadline:
        office.worker.run_once()
        time.sleep(0.1)
    assert {imid for imid in real if db.logged(office.engine, imid)} == set(real)
    assert {a.status for a in office.emulator.notification_attempts() if a.url.startswith(office.url)} == {202}
    with Session(office.engine) as session:
        rows = session.exec(select(AuditEntry).where(AuditEntry.action == "webhook_rejected")).all()
    counted: Counter[str] = Counter()
    for row in rows:
        counted[row.reason] += row.detail["count"]
    assert counted == Counter({reason: n for (reason, _), n in expected.items()})
    assert len(rows) <= 2 * len(counted)  # a row a minute per reason, not a row per call
