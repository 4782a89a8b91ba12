"""What the product sends, delivered to a real SMTP server on loopback (aiosmtpd): sender verification codes
over STARTTLS with AUTH and over implicit TLS, the quarantine notice after the commit (and not after a
rollback, and not more than the hourly allowance), the needs-reconnect notice; nothing when unset."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet

from connector.config import OutboundSettings, Settings, load_settings
from connector.crypto import TokenCipher
from connector.db import transaction
from connector.dropbox import notices
from connector.dropbox.outbound import postman_for
from connector.errors import ConfigError, InputError
from connector.services import mailboxes, users
from connector.services.quarantine import UNAUTHENTICATED, quarantine
from connector.web.codes import LoggingCodeSender, MailCodeSender, code_sender_for
from emulators.mailcatcher import MailCatcher
from emulators.tls import shared_test_pki
from tests.conftest import World
from tests.connector.dropbox.conftest import MATTER, DnsServer, smtp_settings, start_dropbox
from tests.mailbuilder import mail

ALICE = "alice@acme-law.com"


def _with_outbound(base: Settings, catcher: MailCatcher, **values: object) -> Settings:
    outbound = OutboundSettings(**{"host": catcher.host, "port": catcher.port, "security": catcher.mode,
                                   "ca_file": str(shared_test_pki().ca_cert), **values})
    return base.model_copy(update={"outbound": outbound})


@pytest.fixture
def relay() -> Iterator[MailCatcher]:
    """The firm's submission server: STARTTLS with the test CA's certificate, AUTH required."""
    pki = shared_test_pki()
    with MailCatcher("starttls", cert=(str(pki.server_cert), str(pki.server_key)),
                     login=("notices", "s3cret")) as catcher:
        yield catcher


def test_a_verification_code_is_mailed_over_starttls_with_auth(relay: MailCatcher) -> None:
    settings = _with_outbound(load_settings(), relay, username="notices", password="s3cret")
    sender = code_sender_for(settings)
    assert isinstance(sender, MailCodeSender)
    sender.send(ALICE, "alice@fastmail.example", "123456")
    [caught] = relay.wait_for(1)
    assert caught.rcpt_tos == ["alice@fastmail.example"] and caught.authenticated_as == "notices"
    assert caught.mail_from == "no-reply@bcc.example.com"
    message = caught.message
    assert message["Auto-Submitted"] == "auto-generated"  # RFC 3834: no auto-responder answers it
    assert message["Subject"] == "Your email-capture verification code"
    assert "The verification code is: 123456" in message.get_content()
    assert "works for 15 minutes" in message.get_content()


def test_implicit_tls_and_a_sender_of_the_firms_choosing() -> None:
    pki = shared_test_pki()
    with MailCatcher("tls", cert=(str(pki.server_cert), str(pki.server_key))) as catcher:
        settings = _with_outbound(load_settings(), catcher, sender="Acme capture <capture@acme-law.com>")
        code_sender_for(settings).send(ALICE, "alice@oldmail.example", "654321")
        [caught] = catcher.wait_for(1)
    assert caught.mail_from == "capture@acme-law.com"
    assert caught.message["From"] == "Acme capture <capture@acme-law.com>"


def test_a_code_that_cannot_be_sent_is_an_error_the_user_reads(relay: MailCatcher) -> None:
    wrong_password = _with_outbound(load_settings(), relay, username="notices", password="guess")
    with pytest.raises(InputError, match="could not be sent just now"):
        code_sender_for(wrong_password).send(ALICE, "alice@fastmail.example", "123456")
    with MailCatcher("none") as plain:  # no STARTTLS offered: the code is not sent in clear
        with pytest.raises(InputError, match="could not be sent"):
            code_sender_for(_with_outbound(load_settings(), plain, security="starttls")).send(
                ALICE, "alice@fastmail.example", "123456")
        assert plain.caught == []
    assert relay.caught == []


def test_the_server_certificate_is_checked(relay: MailCatcher) -> None:
    untrusted = _with_outbound(load_settings(), relay, username="notices", password="s3cret", ca_file=None)
    with pytest.raises(InputError):  # the system's CAs do not know the test CA
        code_sender_for(untrusted).send(ALICE, "alice@fastmail.example", "123456")
    assert relay.caught == []


def test_unset_means_nothing_is_sent_and_a_password_never_goes_in_clear() -> None:
    assert isinstance(code_sender_for(load_settings()), LoggingCodeSender)
    assert postman_for(load_settings()) is None
    with pytest.raises(ValueError, match="only over TLS"):
        OutboundSettings(host="smtp.example.net", security="none", password="x")


def test_the_outbound_password_is_never_read_from_the_settings_file(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("outbound:\n  host: smtp.example.net\n  password: hunter2\n", encoding="utf-8")
    monkeypatch.setenv("BCC_CAPTURE_SETTINGS", str(path))
    with pytest.raises(ConfigError, match=r"outbound\.password"):
        load_settings()
    path.write_text("outbound:\n  host: smtp.example.net\n", encoding="utf-8")
    monkeypatch.setenv("BCC_CAPTURE_OUTBOUND__PASSWORD", "hunter2")
    assert load_settings().outbound.password == "hunter2"


def test_a_forgery_quarantined_by_the_dropbox_is_told_to_the_user_it_names(
        world: World, dns_server: DnsServer) -> None:
    with MailCatcher("none") as catcher:
        settings = _with_outbound(smtp_settings(dns_server), catcher, security="none", ca_file=None)
        box = start_dropbox(world, settings)
        try:
            box.send(mail(ALICE, ["carol@clientco.com"], subject="Wire the money"), [MATTER],
                     "mallory@evil.example")
            [filed] = box.file()
        finally:
            box.server.stop()
        [caught] = catcher.wait_for(1)
    assert filed.outcome == "quarantined"
    [item] = box.quarantined()
    assert caught.rcpt_tos == [ALICE] and caught.message["Subject"] == "A message in your name was quarantined"
    text = caught.message.get_content()
    assert f"Reference: quarantine #{item.id}" in text and f"Sent to:  {MATTER}" in text
    assert "dmarc=fail" in text and "did not vouch for it" in text


def test_a_notice_goes_only_after_the_commit_and_at_most_so_many_an_hour(world: World) -> None:
    with MailCatcher("none") as catcher:
        settings = _with_outbound(load_settings(), catcher, security="none", ca_file=None,
                                  quarantine_notices_per_hour=2)
        forged = mail(ALICE, ["carol@clientco.com"], subject="Forged")
        with pytest.raises(RuntimeError), transaction(world.engine) as session:
            quarantine(session, forged, UNAUTHENTICATED, source="smtp", tenant_id=world.tenant.id,
                       user_id=world.alice.id, notify=settings)
            raise RuntimeError("the filing failed after the quarantine row was written")
        for _ in range(3):
            with transaction(world.engine) as session:
                quarantine(session, forged, UNAUTHENTICATED, source="smtp", tenant_id=world.tenant.id,
                           user_id=world.alice.id, notify=settings)
        postman = postman_for(settings)
        assert postman is not None and postman.flush(10)
        assert len(catcher.caught) == 2  # the rolled-back one told nobody; the third is over the allowance


def test_a_mailbox_that_needs_reconnecting_is_told_to_its_owner(world: World) -> None:
    with MailCatcher("none") as catcher:
        settings = _with_outbound(load_settings(), catcher, security="none", ca_file=None)
        with transaction(world.engine) as session:
            alice = users.get_user(session, ALICE)
            box = mailboxes.connect(session, alice, "graph", "{}", TokenCipher(Fernet.generate_key()))
            assert notices.needs_reconnect(session, settings, box)
        [caught] = catcher.wait_for(1)
    assert caught.rcpt_tos == [ALICE] and caught.message["Subject"] == f"Reconnect your mailbox {ALICE}"
    assert "Outlook (Microsoft 365)" in caught.message.get_content()
    assert "http://127.0.0.1:8080/mailboxes" in caught.message.get_content()
