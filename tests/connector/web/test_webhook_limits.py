"""One webhook call must not hold the server: what a forger can send to the real app over HTTP (uvicorn on
loopback) — a huge declared body, an endless streamed one, thousands of notifications, a parse that
takes its time — is refused or handled without the rest of the server waiting for it."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
import pytest
from sqlmodel import Session, select

from connector.config import Settings
from connector.crypto import TokenCipher
from connector.db import transaction
from connector.models import AuditEntry, Mailbox
from connector.ports import Notification
from connector.services import mailboxes, users
from connector.web.context import AppContext
from connector.web.server import free_port, serving
from providers.graph.push import GraphNotificationParser
from tests.conftest import World

KEY = b"q2Yl8kW0yYc2m0o8kH1Q3O6t7m7wz4yqfQ2d3QxT6Ds="
STATE = "a-client-state-only-graph-and-we-know"
HANG_GUARD = 20  # seconds a socket waits before the test fails instead of hanging (not a performance promise)


class Stalling(GraphNotificationParser):
    """Graph's parser, held inside `parse` until the test lets it go: a slow token check or a huge body."""

    def __init__(self) -> None:
        self.entered, self.release = threading.Event(), threading.Event()

    def parse(self, headers: Mapping[str, str], body: bytes, url: str) -> list[Notification]:
        if b"stall" in body:
            self.entered.set()
            self.release.wait(HANG_GUARD)
        return super().parse(headers, body, url)


@pytest.fixture
def subscribed(world: World) -> int:
    with transaction(world.engine) as session:
        box = mailboxes.connect(session, users.get_user(session, "alice@acme-law.com"), "graph", "{}", TokenCipher(KEY))
        box.subscription_id, box.client_state, box.pending_since = "sub-42", STATE, None
        session.add(box)
        session.flush()
        assert box.id is not None
        return box.id


@pytest.fixture
def parser() -> Stalling:
    return Stalling()


@pytest.fixture
def server(world: World, settings: Settings, parser: Stalling) -> Iterator[str]:
    context = AppContext(world.engine, settings, {"graph": parser}, webhook_max_bytes=64 * 1024)
    with serving(context, free_port()) as url:
        yield url
    parser.release.set()


def item(state: str = STATE, subscription: str = "sub-42") -> dict[str, object]:
    return {"subscriptionId": subscription, "clientState": state, "changeType": "created",
            "resource": "Users/x/Messages/y", "tenantId": "t"}


def connection(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=HANG_GUARD)


def answer(conn: http.client.HTTPConnection) -> tuple[int, dict[str, object]]:
    reply = conn.getresponse()
    return reply.status, json.loads(reply.read())


def pending(world: World, mailbox_id: int) -> datetime | None:
    with Session(world.engine) as session:
        box = session.get(Mailbox, mailbox_id)
        assert box is not None
        return box.pending_since


def rejected_reasons(world: World) -> dict[str, int]:
    with Session(world.engine) as session:
        rows = session.exec(select(AuditEntry).where(AuditEntry.action == "webhook_rejected")).all()
    return {row.reason: row.detail["count"] for row in rows}


def test_a_body_declared_too_large_is_refused_before_it_is_read(server: str, world: World) -> None:
    conn = connection(server)
    conn.putrequest("POST", "/webhooks/graph")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(300 * 1024 * 1024))
    conn.endheaders()
    conn.send(b'{"value": [')  # 300 MB announced, a few bytes sent: the answer comes anyway
    assert answer(conn) == (413, {"error": "too_large"})
    assert rejected_reasons(world) == {"too_large": 1}


def test_a_streamed_body_is_read_only_up_to_the_cap(server: str, world: World) -> None:
    conn = connection(server)
    conn.putrequest("POST", "/webhooks/graph")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    chunk = b" " * 16 * 1024
    for _ in range(5):  # 80 KB of an endless body (no last chunk is ever sent)
        conn.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
    assert answer(conn) == (413, {"error": "too_large"})


def test_a_call_with_too_many_notifications_wakes_nothing(world: World, settings: Settings,
                                                          subscribed: int) -> None:
    context = AppContext(world.engine, settings, {"graph": GraphNotificationParser()}, webhook_max_items=50)
    with serving(context, free_port()) as url:
        forged = [item("guessed", f"sub-{n}") for n in range(50)]
        flood = httpx.post(f"{url}/webhooks/graph", json={"value": [item(), *forged]}, timeout=HANG_GUARD)
        assert (flood.status_code, flood.json()) == (413, {"error": "too_many_items"})
        assert pending(world, subscribed) is None  # not even the genuine one among them: the call is refused whole
        repeated = httpx.post(f"{url}/webhooks/graph", json={"value": [item()] * 50}, timeout=HANG_GUARD)
        assert (repeated.status_code, repeated.json()) == (202, {"accepted": 1})  # copies wake once
    assert pending(world, subscribed) is not None
    assert rejected_reasons(world) == {"too_many_items": 1}


def test_a_slow_webhook_call_does_not_hold_the_other_requests(server: str, parser: Stalling) -> None:
    replies: list[httpx.Response] = []
    slow = threading.Thread(target=lambda: replies.append(httpx.post(
        f"{server}/webhooks/graph", content=b'{"value": [], "stall": 1}', timeout=HANG_GUARD)))
    slow.start()
    assert parser.entered.wait(HANG_GUARD)
    # While that call is still being parsed, the server answers everyone else.
    assert httpx.get(f"{server}/healthz", timeout=HANG_GUARD).json() == {"status": "ok"}
    forged = httpx.post(f"{server}/webhooks/graph", json={"value": [item("guessed")]}, timeout=HANG_GUARD)
    assert forged.status_code == 404  # no mailbox has sub-42 in this story
    parser.release.set()
    slow.join(HANG_GUARD)
    assert [r.status_code for r in replies] == [400]  # and the slow one is answered too (an empty collection)


def test_forged_calls_are_counted_exactly_and_sampled_into_the_audit(server: str, world: World,
                                                                     subscribed: int) -> None:
    before = _counter("client_state_mismatch") + _counter("malformed")
    with httpx.Client(base_url=server, timeout=HANG_GUARD) as client:
        for n in range(40):
            assert client.post("/webhooks/graph", json={"value": [item(f"guess-{n}")]}).status_code == 403
        for _ in range(25):
            assert client.post("/webhooks/graph", content=b"not json").status_code == 400
    assert _counter("client_state_mismatch") + _counter("malformed") - before == 65
    with Session(world.engine) as session:
        rows = session.exec(select(AuditEntry).where(AuditEntry.action == "webhook_rejected")).all()
    by_reason: dict[str, list[int]] = {}
    for row in rows:
        by_reason.setdefault(row.reason, []).append(row.detail["count"])
    # One row a minute per reason (two if the calls straddled a minute), counting every call.
    assert {reason: sum(counts) for reason, counts in by_reason.items()} == {"client_state_mismatch": 40,
                                                                             "malformed": 25}
    assert all(len(counts) <= 2 for counts in by_reason.values()), by_reason
    assert pending(world, subscribed) is None


def _counter(reason: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("bcc_capture_webhooks_rejected_total",
                                     {"provider": "graph", "reason": reason}) or 0.0


def test_a_genuine_notification_still_wakes_its_mailbox(server: str, world: World, subscribed: int) -> None:
    reply = httpx.post(f"{server}/webhooks/graph", json={"value": [item()]}, timeout=HANG_GUARD)
    assert (reply.status_code, reply.json()) == (202, {"accepted": 1})
    assert pending(world, subscribed) is not None
    assert pending(world, subscribed) <= datetime.now(UTC)  # type: ignore[operator]
