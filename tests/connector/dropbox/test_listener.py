"""The SMTP conversation, with smtplib against the running listener: RCPT refusals, limits, TLS, 250 after commit."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator

import pytest
from sqlmodel import Session

from connector.db import make_engine, transaction
from connector.dropbox import spool
from connector.dropbox.listener import Listener
from connector.dropbox.recipients import recipient_check
from connector.models import SpooledMessage
from connector.services import users
from emulators.tls import shared_test_pki
from tests.conftest import World
from tests.connector.dropbox.conftest import MATTER, DnsServer, Dropbox, crlf, smtp_settings, start_dropbox
from tests.mailbuilder import mail

ALICE = "alice@acme-law.com"


def _rcpt(dropbox: Dropbox, address: str) -> tuple[int, str]:
    with dropbox.client() as client:
        client.mail(ALICE)
        code, text = client.rcpt(address)
        return code, text.decode()


def test_dropbox_addresses_are_accepted_and_everything_else_refused_at_rcpt(dropbox: Dropbox) -> None:
    with transaction(dropbox.world.engine) as session:
        alice = users.get_user(session, ALICE)
        retired = users.dropbox_address(alice, dropbox.settings)
        users.regenerate_address(session, alice)
        current = users.dropbox_address(alice, dropbox.settings)
    assert _rcpt(dropbox, MATTER)[0] == 250
    assert _rcpt(dropbox, "1001.acme@bcc.example.com")[0] == 250
    assert _rcpt(dropbox, "notes@bcc.example.com")[0] == 250
    assert _rcpt(dropbox, current)[0] == 250
    code, text = _rcpt(dropbox, retired)
    assert (code, text.split(":")[0]) == (550, "5.1.1 address retired")
    code, text = _rcpt(dropbox, "acme+99999@bcc.example.com")
    assert code == 550 and "no matter 99999" in text
    code, text = _rcpt(dropbox, "globex+10802@bcc.example.com")
    assert code == 550 and "no company uses the name 'globex'" in text
    code, text = _rcpt(dropbox, "dropbox-abcdefghijkm@bcc.example.com")
    assert code == 550 and "no such dropbox address" in text
    code, text = _rcpt(dropbox, "bob@gmail.com")
    assert code == 550 and "relay denied" in text


def test_a_refused_recipient_leaves_the_others_and_only_they_are_spooled(dropbox: Dropbox) -> None:
    refused = dropbox.send(mail(ALICE, ["carol@clientco.com"]), [MATTER, "victim@elsewhere.example"], ALICE)
    assert list(refused) == ["victim@elsewhere.example"] and refused["victim@elsewhere.example"][0] == 550
    [row] = dropbox.spooled()
    assert row.rcpt_tos == [MATTER] and row.mail_from == ALICE and row.peer_ip == "127.0.0.1"
    assert row.helo == "client.example"


def test_250_names_a_committed_spool_row_holding_the_bytes_as_sent(dropbox: Dropbox) -> None:
    raw = crlf(mail(ALICE, ["carol@clientco.com"], subject="Spooled"))
    with dropbox.client() as client:
        client.mail(ALICE)
        client.rcpt(MATTER)
        code, text = client.data(raw)
    assert code == 250
    spool_id = int(text.decode().rsplit(" ", 1)[1])
    with Session(make_engine(str(dropbox.world.engine.url.render_as_string(hide_password=False)))) as other:
        row = other.get(SpooledMessage, spool_id)  # read through another connection: it is committed
    assert row is not None and row.state == "pending"
    assert row.raw == raw


def test_size_is_advertised_and_larger_mail_refused_with_552(world: World, dns_server: DnsServer) -> None:
    box = start_dropbox(world, smtp_settings(dns_server, max_message_bytes=20_000))
    try:
        with box.client() as client:
            assert client.has_extn("size") and client.esmtp_features["size"] == "20000"
            code, _ = client.mail(ALICE, ["SIZE=50000"])
            assert code == 552
        big = crlf(mail(ALICE, ["carol@clientco.com"], body="x" * 30_000))
        with box.client() as client:
            client.mail(ALICE)
            client.rcpt(MATTER)
            assert client.data(big)[0] == 552
        assert box.spooled() == []
    finally:
        box.server.stop()


def test_recipients_connections_and_messages_per_peer_are_limited(world: World, dns_server: DnsServer) -> None:
    box = start_dropbox(world, smtp_settings(dns_server, max_recipients=2, max_connections_per_peer=2,
                                             max_messages_per_peer_per_minute=3))
    try:
        with box.client() as client:
            client.mail(ALICE)
            assert [client.rcpt(a)[0] for a in (MATTER, "notes@bcc.example.com", "acme@bcc.example.com")] == [
                250, 250, 452]
        first, second = box.client(), box.client()
        with pytest.raises(smtplib.SMTPConnectError) as refused:
            box.client()
        assert refused.value.smtp_code == 421
        first.quit()
        second.quit()
        raw = mail(ALICE, ["carol@clientco.com"])
        with box.client() as client:
            for _ in range(2):  # the session above used one of the three
                client.sendmail(ALICE, [MATTER], raw)
            code, text = client.mail(ALICE)
            assert code == 450 and b"too many messages" in text
    finally:
        box.server.stop()


@pytest.fixture
def tls_dropbox(world: World, dns_server: DnsServer) -> Iterator[tuple[Dropbox, ssl.SSLContext]]:
    pki = shared_test_pki()
    box = start_dropbox(world, smtp_settings(dns_server, tls_cert=str(pki.server_cert), tls_key=str(pki.server_key),
                                             require_tls=True))
    yield box, ssl.create_default_context(cafile=str(pki.ca_cert))
    box.server.stop()


def test_starttls_with_the_certificate_from_settings_and_mail_refused_before_it(
        tls_dropbox: tuple[Dropbox, ssl.SSLContext]) -> None:
    box, context = tls_dropbox
    with box.client() as client:
        assert client.has_extn("starttls")
        assert client.mail(ALICE)[0] == 530  # require_tls: nothing before STARTTLS
    with box.client() as client:
        client.starttls(context=context)
        client.ehlo()
        client.sendmail(ALICE, [MATTER], mail(ALICE, ["carol@clientco.com"]))
    [row] = box.spooled()
    assert row.tls is True


def test_a_database_failure_while_storing_answers_451_so_the_sender_retries(
        world: World, dns_server: DnsServer) -> None:
    settings = smtp_settings(dns_server)
    unreachable = make_engine("postgresql+psycopg://postgres@127.0.0.1:9/none?connect_timeout=2")
    listener = Listener(settings.smtp, "bcc.example.com", recipient_check(world.engine, settings.dropbox),
                        lambda message: spool.store(unreachable, message))
    with listener, smtplib.SMTP("127.0.0.1", listener.port, timeout=10) as client:
        client.ehlo()
        client.mail(ALICE)
        assert client.rcpt(MATTER)[0] == 250
        code, text = client.data(mail(ALICE, ["carol@clientco.com"]))
    assert code == 451 and b"try again later" in text
