"""The SMTP dropbox for real: a listener on loopback, a loopback DNS server publishing SPF, DKIM keys and
DMARC, messages DKIM-signed by the test with its own keys, and the filer run against a real database."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from connector.config import Settings, load_settings
from connector.db import transaction
from connector.dropbox.filing import Filed, SpoolFiler
from connector.dropbox.server import DropboxServer
from connector.models import AuditEntry, QuarantinedMessage, SpooledMessage
from connector.services import users
from emulators.dkim import DnsServer, SigningKey, crlf
from tests.conftest import FIXED_NOW, World
from tests.connector.dropbox.inbound_calls import FakeAws

if TYPE_CHECKING:
    from tests.connector.dropbox.inbound_front import Front

MATTER = "acme+10802@bcc.example.com"


# Who publishes what: the firm signs with DKIM and its SPF does not list loopback (DKIM must carry it);
# a webmail domain publishes DMARC p=none; an old domain publishes SPF for loopback and no DMARC;
# the attacker's domain passes its own SPF, which proves nothing about alice@acme-law.com.
KEYS = {domain: SigningKey.make(domain) for domain in ("acme-law.com", "fastmail.example", "listserv.example")}
RECORDS = {
    "acme-law.com": ["v=spf1 -all"],
    "_dmarc.acme-law.com": ["v=DMARC1; p=reject"],
    "fastmail.example": ["v=spf1 -all"],
    "_dmarc.fastmail.example": ["v=DMARC1; p=none"],
    "oldmail.example": ["v=spf1 ip4:127.0.0.1 -all"],
    "evil.example": ["v=spf1 ip4:127.0.0.1 -all"],
    "listserv.example": ["v=spf1 ip4:127.0.0.1 -all"],
    **{f"{k.selector}._domainkey.{k.domain}": [k.txt] for k in KEYS.values()},
}


@pytest.fixture(scope="session")
def dns_server() -> Iterator[DnsServer]:
    with DnsServer({name: list(values) for name, values in RECORDS.items()}) as server:
        yield server


def smtp_settings(dns_server: DnsServer, **smtp: object) -> Settings:
    base = load_settings()
    values = {"port": 0, "resolver": f"{dns_server.host}:{dns_server.port}", "dns_timeout_seconds": 2, **smtp}
    return base.model_copy(update={"smtp": base.smtp.model_copy(update=values)})


@dataclass
class Dropbox:
    """A running listener (no filing threads: each test files when it wants, so it sees every step)."""

    world: World
    settings: Settings
    server: DropboxServer
    filer: SpoolFiler
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def port(self) -> int:
        assert self.server.listener is not None
        return self.server.listener.port

    def client(self) -> smtplib.SMTP:
        client = smtplib.SMTP("127.0.0.1", self.port, local_hostname="client.example", timeout=10)
        client.ehlo()
        return client

    def send(self, raw: bytes, rcpt: list[str], mail_from: str) -> dict:
        with self.client() as client:
            return client.sendmail(mail_from, rcpt, crlf(raw))

    def file(self) -> list[Filed]:
        return self.filer.file_all()

    def rows(self, model: type, *where: object) -> list:
        with Session(self.world.engine) as session:
            statement = select(model).where(*where)
            if "id" in model.model_fields:
                statement = statement.order_by(col(model.id))
            return list(session.exec(statement).all())

    def audit(self, action: str) -> list[AuditEntry]:
        return self.rows(AuditEntry, AuditEntry.action == action)

    def quarantined(self) -> list[QuarantinedMessage]:
        return self.rows(QuarantinedMessage)

    def spooled(self) -> list[SpooledMessage]:
        return self.rows(SpooledMessage)


def start_dropbox(world: World, settings: Settings) -> Dropbox:
    server = DropboxServer(world.engine, settings, filers=0, clock=lambda: FIXED_NOW)
    server.start()
    from connector.dropbox.server import filer

    return Dropbox(world, settings, server, filer(world.engine, settings, clock=lambda: FIXED_NOW))


@pytest.fixture
def dropbox(world: World, dns_server: DnsServer) -> Iterator[Dropbox]:
    verify_extra_senders(world.engine, world)
    box = start_dropbox(world, smtp_settings(dns_server))
    yield box
    box.server.stop()


def verify_extra_senders(engine: Engine, world: World) -> None:
    """Alice also sends from a webmail address (DMARC p=none) and an old ISP address (no DMARC)."""
    settings = load_settings()
    with transaction(engine) as session:
        alice = users.get_user(session, "alice@acme-law.com")
        for address in ("alice@fastmail.example", "alice@oldmail.example"):
            _, code = users.add_sender(session, alice, address, settings)
            users.verify_sender(session, alice, address, code)


@pytest.fixture(scope="module")
def aws() -> Iterator[FakeAws]:
    """AWS's SNS certificate host and subscription endpoint, played on loopback."""
    fake = FakeAws()
    yield fake
    fake.close()


@pytest.fixture
def front(world: World, dns_server: DnsServer, aws: FakeAws) -> Iterator[Front]:
    """The web app with every inbound-mail service configured, on the test's database."""
    from tests.connector.dropbox.inbound_front import inbound_settings, start_front

    yield from start_front(world, inbound_settings(dns_server), aws)
