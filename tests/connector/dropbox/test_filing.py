"""Spooled mail filed, refused or quarantined: sender authentication (SPF, DKIM, DMARC, ARC) and noise."""

from __future__ import annotations

import time

import dkim
import pytest
from sqlmodel import Session, select

from connector.config import SenderAuthentication
from connector.db import transaction
from connector.dropbox.server import filer
from connector.models import Activity, ActivityLink, ActivitySource, AuditEntry, Tenant, User
from connector.services import quarantine as quarantine_service
from connector.services import tenants
from tests.conftest import World
from tests.connector.dropbox.conftest import KEYS, MATTER, DnsServer, Dropbox, crlf, smtp_settings, start_dropbox
from tests.mailbuilder import mail

ALICE = "alice@acme-law.com"


def _activities(dropbox: Dropbox) -> list[Activity]:
    return dropbox.rows(Activity)


def test_a_dkim_signed_bcc_from_an_authorized_sender_is_filed_with_its_verdict(dropbox: Dropbox) -> None:
    raw = KEYS["acme-law.com"].sign(mail(ALICE, ["carol@clientco.com"], subject="Signed"))
    dropbox.send(raw, [MATTER], ALICE)  # SPF of acme-law.com does not list loopback: DKIM carries it
    [filed] = dropbox.file()
    assert (filed.outcome, filed.reason) == ("logged", "addressed")
    [activity] = _activities(dropbox)
    assert activity.subject == "Signed"
    [link] = dropbox.rows(ActivityLink)
    assert link.record_id == dropbox.world.matter.id and link.reason == "address"
    assert "dkim=pass header.d=acme-law.com" in filed.authentication
    assert "dmarc=pass (p=reject) header.from=acme-law.com" in filed.authentication
    assert "spf=fail smtp.mailfrom=acme-law.com" in filed.authentication
    [logged] = dropbox.audit("logged")
    assert logged.detail["authentication"] == filed.authentication
    assert logged.detail["envelope_recipients"] == [MATTER]
    [row] = dropbox.spooled()
    assert (row.state, row.outcome, row.activity_id, row.raw) == ("done", "logged", activity.id, b"")


def test_a_forged_from_is_quarantined_for_the_user_it_names_and_released_by_her(dropbox: Dropbox) -> None:
    forged = mail(ALICE, ["carol@clientco.com"], subject="Wire the money")
    dropbox.send(forged, [MATTER], "mallory@evil.example")  # evil.example's own SPF passes: not aligned
    [filed] = dropbox.file()
    assert (filed.outcome, filed.reason) == ("quarantined", "unauthenticated_sender")
    assert _activities(dropbox) == []
    [item] = dropbox.quarantined()
    assert (item.user_id, item.tenant_id, item.from_email) == (dropbox.world.alice.id, dropbox.world.tenant.id, ALICE)
    assert "spf=pass smtp.mailfrom=evil.example" in item.verdict and "dmarc=fail (p=reject)" in item.verdict
    assert item.envelope_recipients == [MATTER] and item.raw == crlf(forged)
    [audited] = dropbox.audit("quarantined")
    assert audited.reason == "unauthenticated_sender" and audited.detail["mail_from"] == "mallory@evil.example"
    with transaction(dropbox.world.engine) as session:
        bob = session.get(User, dropbox.world.bob.id)
        assert bob is not None and quarantine_service.visible_to(session, bob) == []  # not his, not an admin
        alice = session.get(User, dropbox.world.alice.id)
        assert alice is not None and [i.id for i in quarantine_service.visible_to(session, alice)] == [item.id]
        applied = quarantine_service.release(session, alice, item.id, dropbox.settings)
    assert applied.outcome.value == "logged"
    [activity] = _activities(dropbox)
    assert activity.subject == "Wire the money"
    [link] = dropbox.rows(ActivityLink)
    assert link.record_id == dropbox.world.matter.id  # the RCPT TO address was kept with the quarantined bytes
    [released] = dropbox.audit("quarantine_released")
    assert released.detail["by"] == ALICE and released.detail["activity_id"] == activity.id


def test_an_admin_sees_and_deletes_quarantined_mail_and_the_bytes_go(dropbox: Dropbox) -> None:
    dropbox.send(mail(ALICE, ["carol@clientco.com"], subject="Forged"), [MATTER], "mallory@evil.example")
    dropbox.file()
    [item] = dropbox.quarantined()
    with transaction(dropbox.world.engine) as session:
        admin = session.get(User, dropbox.world.bob.id)
        assert admin is not None
        admin.role_id = tenants.get_role(session, dropbox.world.tenant, "Administrator").id
        session.add(admin)
        assert [i.id for i in quarantine_service.visible_to(session, admin)] == [item.id]
        quarantine_service.delete(session, admin, item.id)
        assert quarantine_service.visible_to(session, admin) == []
    [gone] = dropbox.quarantined()
    assert gone.raw == b"" and gone.deleted_by == dropbox.world.bob.id
    assert dropbox.audit("quarantine_deleted")[0].detail["by"] == "bob@acme-law.com"
    assert _activities(dropbox) == []


def test_a_stranger_is_refused_not_quarantined(dropbox: Dropbox) -> None:
    dropbox.send(mail("carol@clientco.com", ["bob@acme-law.com"]), [MATTER], "carol@clientco.com")
    [filed] = dropbox.file()
    assert (filed.outcome, filed.reason, filed.authentication) == ("refused", "unauthorized_sender", "")
    assert dropbox.quarantined() == [] and _activities(dropbox) == []


def test_dmarc_p_none_needs_an_aligned_pass_under_the_required_policy(dropbox: Dropbox) -> None:
    unsigned = mail("alice@fastmail.example", ["carol@clientco.com"], subject="From webmail")
    dropbox.send(unsigned, [MATTER], "alice@fastmail.example")  # fastmail's SPF does not list loopback
    signed = KEYS["fastmail.example"].sign(mail("alice@fastmail.example", ["carol@clientco.com"], subject="Signed"))
    dropbox.send(signed, [MATTER], "alice@fastmail.example")
    first, second = dropbox.file()
    assert (first.outcome, second.outcome) == ("quarantined", "logged")
    assert "dmarc=fail (p=none)" in first.authentication or "dmarc=fail (p=none)" in dropbox.quarantined()[0].verdict
    assert "dmarc=pass (p=none)" in second.authentication


def test_dmarc_p_none_is_filed_when_the_policy_follows_the_domain(world: World, dns_server: DnsServer) -> None:
    from tests.connector.dropbox.conftest import verify_extra_senders

    verify_extra_senders(world.engine, world)
    box = start_dropbox(world, smtp_settings(dns_server, authentication=SenderAuthentication.DOMAIN_POLICY))
    try:
        box.send(mail("alice@fastmail.example", ["carol@clientco.com"], subject="p=none"), [MATTER],
                 "alice@fastmail.example")
        box.send(mail(ALICE, ["carol@clientco.com"], subject="p=reject"), [MATTER], "mallory@evil.example")
        none_domain, reject_domain = box.file()
        assert (none_domain.outcome, reject_domain.outcome) == ("logged", "quarantined")
    finally:
        box.server.stop()


def test_without_dmarc_an_aligned_spf_pass_files_and_an_unaligned_one_does_not(dropbox: Dropbox) -> None:
    dropbox.send(mail("alice@oldmail.example", ["carol@clientco.com"], subject="Old ISP"), [MATTER],
                 "alice@oldmail.example")
    dropbox.send(mail("alice@oldmail.example", ["carol@clientco.com"], subject="Relayed"), [MATTER],
                 "bounces@evil.example")
    aligned, unaligned = dropbox.file()
    assert (aligned.outcome, unaligned.outcome) == ("logged", "quarantined")
    assert "spf=pass smtp.mailfrom=oldmail.example" in aligned.authentication
    assert "dmarc=none header.from=oldmail.example" in aligned.authentication


DSN = b"""From: alice@acme-law.com
To: alice@acme-law.com
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn-1@acme-law.com>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b"

--b
Content-Type: text/plain

Your message to nobody@clientco.com could not be delivered.
--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.acme-law.com

Final-Recipient: rfc822; nobody@clientco.com
Action: failed
Status: 5.1.1
--b--
"""


@pytest.mark.parametrize("headers, mail_from, reason", [
    ({"Auto-Submitted": "auto-replied"}, ALICE, "auto_reply"),
    ({"X-Autoreply": "yes"}, ALICE, "auto_reply"),
    ({}, "", "bounce"),
    (None, ALICE, "bounce"),
], ids=["auto-submitted", "x-autoreply", "null-sender", "dsn"])
def test_bounces_and_auto_replies_are_never_filed_and_audited(dropbox: Dropbox, headers: dict[str, str] | None,
                                                              mail_from: str, reason: str) -> None:
    message = DSN if headers is None else mail(ALICE, ["carol@clientco.com"], subject="Re: matter", headers=headers)
    raw = KEYS["acme-law.com"].sign(message)  # genuinely hers: noise is refused whoever sent it
    dropbox.send(raw, [MATTER], mail_from)
    [filed] = dropbox.file()
    assert (filed.outcome, filed.reason) == ("refused", reason)
    assert _activities(dropbox) == [] and dropbox.quarantined() == []
    [audited] = dropbox.audit("refused")
    assert audited.reason == reason and audited.tenant_id == dropbox.world.tenant.id
    assert audited.detail["mail_from"] == mail_from


def test_an_out_of_office_reply_from_a_mailer_daemon_address_is_noise(dropbox: Dropbox) -> None:
    dropbox.send(mail("MAILER-DAEMON@acme-law.com", ["alice@acme-law.com"], subject="Undeliverable"), [MATTER],
                 "postmaster@acme-law.com")
    dropbox.send(mail(ALICE, ["carol@clientco.com"], subject="Out of Office: back Monday"), [MATTER], ALICE)
    assert [(f.outcome, f.reason) for f in dropbox.file()] == [("refused", "mailer_daemon"),
                                                               ("refused", "auto_reply")]


def test_unreadable_mime_is_quarantined_with_its_reason_for_the_company_addressed(dropbox: Dropbox) -> None:
    dropbox.send(b"this is not a message at all\r\n", [MATTER], ALICE)
    [filed] = dropbox.file()
    assert (filed.outcome, filed.reason) == ("quarantined", "unreadable_message")
    [item] = dropbox.quarantined()
    assert item.raw == b"this is not a message at all\r\n" and "no header section" in item.detail["error"]
    assert (item.tenant_id, item.user_id) == (dropbox.world.tenant.id, None)


def test_a_dns_server_that_does_not_answer_postpones_filing_then_quarantines_as_unfileable(
        world: World, dns_server: DnsServer) -> None:
    settings = smtp_settings(dns_server, max_filing_attempts=2, dns_timeout_seconds=0.3)
    box = start_dropbox(world, settings)
    try:
        silent = smtp_settings(dns_server, resolver="127.0.0.1:9", max_filing_attempts=2, dns_timeout_seconds=0.3)
        box.filer = filer(world.engine, silent)  # the listener stored it; the filer's DNS server is away
        box.send(mail(ALICE, ["carol@clientco.com"], subject="Held"), [MATTER], ALICE)
        [first] = box.file()
        assert first.outcome == "retry" and "TemporaryAuthenticationError" in first.reason
        [row] = box.spooled()
        assert (row.state, row.attempts) == ("pending", 1) and "DNS" in row.last_error
        assert box.file() == []  # not due again yet
        time.sleep(1.1)
        [second] = box.file()
        assert (second.outcome, second.reason) == ("quarantined", "unfileable")
        [item] = box.quarantined()
        assert item.detail["attempts"] == 2 and (item.tenant_id, item.from_email) == (world.tenant.id, ALICE)
        assert box.rows(Activity) == []
    finally:
        box.server.stop()


def _forwarded_through_list(sealer: str) -> bytes:
    """Alice's signed mail, rewritten by a mailing list (DKIM breaks), ARC-sealed by the list."""
    original = KEYS["acme-law.com"].sign(mail(ALICE, ["team@listserv.example"], subject="Minutes"))
    rewritten = original.replace(b"Subject: Minutes", b"Subject: [team] Minutes")
    results = (f"Authentication-Results: {sealer}; dkim=pass header.d=acme-law.com; spf=pass "
               f"smtp.mailfrom=acme-law.com; dmarc=pass header.from=acme-law.com\r\n").encode()
    key = KEYS["listserv.example"]
    seal = dkim.arc_sign(results + rewritten, key.selector.encode(), key.domain.encode(), key.private_pem,
                         sealer.encode(), include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
    return b"".join(seal) + results + rewritten


def test_a_forwarded_message_with_a_valid_arc_chain_from_a_trusted_sealer_is_filed(
        world: World, dns_server: DnsServer) -> None:
    box = start_dropbox(world, smtp_settings(dns_server, trusted_arc_sealers=("listserv.example",)))
    try:
        box.send(_forwarded_through_list("listserv.example"), [MATTER], "team-bounces@listserv.example")
        [filed] = box.file()
        assert filed.outcome == "logged", filed.authentication
        assert "arc=pass" in filed.authentication and "dkim=fail header.d=acme-law.com" in filed.authentication
    finally:
        box.server.stop()


def test_the_same_arc_chain_from_an_untrusted_sealer_is_quarantined(dropbox: Dropbox) -> None:
    dropbox.send(_forwarded_through_list("listserv.example"), [MATTER], "team-bounces@listserv.example")
    [filed] = dropbox.file()
    assert filed.outcome == "quarantined"
    assert "arc=pass (i=1 sealed by listserv.example, untrusted)" in dropbox.quarantined()[0].verdict


def test_authentication_off_trusts_the_from_header(world: World, dns_server: DnsServer) -> None:
    box = start_dropbox(world, smtp_settings(dns_server, authentication=SenderAuthentication.OFF))
    try:
        box.send(mail(ALICE, ["carol@clientco.com"], subject="Trusted"), [MATTER], "mallory@evil.example")
        [filed] = box.file()
        assert (filed.outcome, filed.authentication) == ("logged", "")
        with Session(world.engine) as session:
            assert session.exec(select(ActivitySource.source)).all() == ["smtp"]
            assert session.exec(select(AuditEntry).where(AuditEntry.action == "quarantined")).all() == []
    finally:
        box.server.stop()


def test_a_company_behind_its_own_filtering_gateway_can_turn_sender_authentication_off(dropbox: Dropbox) -> None:
    from connector.services import privacy

    with transaction(dropbox.world.engine) as session:
        tenant = session.get(Tenant, dropbox.world.tenant.id)
        privacy.set_company_policy(session, tenant, sender_authentication="off", by="admin@acme-law.com")
    dropbox.send(mail(ALICE, ["carol@clientco.com"], subject="Relayed by our gateway"), [MATTER],
                 "gateway@relay.example")  # unsigned, SPF not aligned: quarantined under the default policy
    [filed] = dropbox.file()
    assert (filed.outcome, filed.reason) == ("logged", "addressed")
