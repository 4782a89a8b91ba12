"""The inbound-mail services over HTTP, against the real app and database: for Postmark, Mailgun, SendGrid and
Amazon SES a valid call is spooled in the SMTP listener's spool and filed like SMTP mail; a forged call, a
replay and a stale call are refused in the code the service documents as final; a database failure is
answered in its "retry" code, and the retry (the same call again) is then taken."""

from __future__ import annotations

import pytest
from sqlmodel import col

from connector.db import make_engine
from connector.models import Activity, ActivityLink, AuditEntry
from connector.web.context import AppContext
from tests.conftest import World
from tests.connector.dropbox import inbound_calls as calls
from tests.connector.dropbox.conftest import MATTER, DnsServer
from tests.connector.dropbox.inbound_front import (
    ALICE,
    FORGED_STATUS,
    REFUSED_STATUS,
    SERVICES,
    Front,
    forged_call,
    inbound_settings,
    signed,
    stale_call,
    start_front,
    valid_call,
)

each_service = pytest.mark.parametrize("service", SERVICES)


@each_service
def test_a_valid_call_is_spooled_then_filed_like_mail_delivered_by_smtp(front: Front, service: str) -> None:
    raw = signed(f"Bcc'd through {service}")
    response = front.post(valid_call(front, service, raw))
    assert (response.status_code, response.json()["status"]) == (200, "stored")
    [row] = front.spooled()  # committed before the answer
    assert (row.state, row.rcpt_tos, row.mail_from) == ("pending", [MATTER], ALICE)
    assert row.raw.startswith(f"Received: from {service} by bcc.example.com with HTTPS id ".encode())
    assert row.raw.endswith(raw)  # the message as the service received it: its DKIM signature still verifies
    [filed] = front.file()
    assert (filed.outcome, filed.reason) == ("logged", "addressed")
    assert "dkim=pass header.d=acme-law.com" in filed.authentication
    assert "dmarc=pass (p=reject) header.from=acme-law.com" in filed.authentication
    # Only SendGrid reports the sending server's address, so only there is SPF evaluated (it fails: loopback
    # is not in acme-law.com's SPF, and DKIM carries the message).
    spf = "spf=fail smtp.mailfrom=acme-law.com" if service == "sendgrid" else "spf=none"
    assert spf in filed.authentication
    [activity] = front.rows(Activity)
    assert activity.subject == f"Bcc'd through {service}"
    [link] = front.rows(ActivityLink)
    assert link.record_id == front.world.matter.id


@each_service
def test_a_forged_call_is_refused_and_nothing_is_stored(front: Front, service: str) -> None:
    response = front.post(forged_call(front, service, signed("Forged")))
    assert response.status_code == FORGED_STATUS[service]
    assert response.json()["error"] in ("unauthorized", "bad_signature")
    assert front.spooled() == []
    [sample] = front.rows(AuditEntry, col(AuditEntry.action) == "webhook_rejected")
    assert (sample.source, sample.reason) == (f"inbound_{service}", response.json()["error"])


@each_service
def test_a_replayed_call_is_refused_and_stored_once(front: Front, service: str) -> None:
    call = valid_call(front, service, signed("Once"))
    assert front.post(call).status_code == 200
    again = front.post(call)
    assert (again.status_code, again.json()["error"]) == (REFUSED_STATUS[service], "replayed")
    assert len(front.spooled()) == 1


@pytest.mark.parametrize("service", ["mailgun", "sendgrid", "ses"])  # Postmark's calls carry no timestamp
def test_a_call_signed_longer_ago_than_the_service_retries_is_refused(front: Front, service: str) -> None:
    response = front.post(stale_call(front, service, signed("Stale")))
    assert (response.status_code, response.json()["error"]) == (REFUSED_STATUS[service], "stale")
    assert front.spooled() == []


@each_service
def test_a_database_failure_is_answered_retry_and_the_retry_is_taken(front: Front, service: str) -> None:
    call = valid_call(front, service, signed("While the database was away"))
    down = make_engine("postgresql+psycopg://postgres@127.0.0.1:9/none?connect_timeout=2")
    front.app.state.context = AppContext(down, front.settings)
    response = front.post(call)
    assert (response.status_code, response.json()["error"]) == (503, "not stored; retry")
    front.app.state.context = AppContext(front.world.engine, front.settings)
    assert front.post(call).status_code == 200  # the service sends the same call again: it is not a replay
    [row] = front.spooled()
    assert row.rcpt_tos == [MATTER]


@each_service
def test_only_dropbox_addresses_are_taken_and_a_call_for_none_is_refused(front: Front, service: str) -> None:
    refused = front.post(valid_call(front, service, signed("Nobody here"), recipient="acme+99999@bcc.example.com"))
    assert (refused.status_code, refused.json()["error"]) == (REFUSED_STATUS[service], "no_dropbox_recipient")
    relay = front.post(valid_call(front, service, signed("Relay"), recipient="victim@elsewhere.example"))
    assert relay.status_code == REFUSED_STATUS[service]
    assert front.spooled() == []
    [sample] = front.rows(AuditEntry, col(AuditEntry.reason) == "no_dropbox_recipient")
    assert "relay denied" in sample.detail["last"]


@each_service
def test_a_message_over_the_size_limit_is_refused(world: World, dns_server: DnsServer, aws: calls.FakeAws,
                                                  service: str) -> None:
    for front in start_front(world, inbound_settings(dns_server, max_message_bytes=4_000), aws):
        response = front.post(valid_call(front, service, signed("Big") + b"x" * 5_000))
        assert (response.status_code, response.json()["error"]) == (REFUSED_STATUS[service], "too_large")
        assert front.spooled() == []
