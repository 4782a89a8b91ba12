"""The web app with the inbound-mail endpoints configured, on the test's database, and what each service's
valid, forged and stale calls look like."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from connector.config import InboundSettings, Settings
from connector.dropbox.filing import Filed
from connector.dropbox.server import filer
from connector.dropbox.ses import SnsVerifier
from connector.models import SpooledMessage
from connector.web.app import create_app
from connector.web.context import AppContext
from connector.web.routes.inbound import InboundState
from tests.conftest import FIXED_NOW, World
from tests.connector.dropbox import inbound_calls as calls
from tests.connector.dropbox.conftest import KEYS, MATTER, DnsServer, smtp_settings
from tests.mailbuilder import mail

ALICE = "alice@acme-law.com"
SERVICES = ["postmark", "mailgun", "sendgrid", "ses"]
FORGED_STATUS = {"postmark": 401, "mailgun": 401, "sendgrid": 401, "ses": 403}
REFUSED_STATUS = {"postmark": 403, "mailgun": 406, "sendgrid": 403, "ses": 403}


def inbound_settings(dns_server: DnsServer, **smtp: object) -> Settings:
    base = smtp_settings(dns_server, **smtp)
    inbound = InboundSettings(postmark_password=calls.POSTMARK_PASSWORD, mailgun_signing_key=calls.MAILGUN_KEY,
                              sendgrid_password=calls.SENDGRID_PASSWORD, sendgrid_public_key=calls.SENDGRID_PUBLIC,
                              ses_topic_arns=(calls.TOPIC,))
    return base.model_copy(update={"inbound": inbound})


@dataclass
class Front:
    world: World
    settings: Settings
    app: FastAPI
    client: TestClient
    aws: calls.FakeAws

    def post(self, call: calls.Call) -> httpx.Response:
        return self.client.post(call.path, content=call.content, headers=call.headers, auth=call.auth)

    def file(self) -> list[Filed]:
        return filer(self.world.engine, self.settings, clock=lambda: FIXED_NOW).file_all()

    def rows(self, model: type, *where: object) -> list:
        with Session(self.world.engine) as session:
            statement = select(model).where(*where)
            if "id" in model.model_fields:
                statement = statement.order_by(col(model.id))
            return list(session.exec(statement).all())

    def spooled(self) -> list[SpooledMessage]:
        return self.rows(SpooledMessage)


def start_front(world: World, settings: Settings, aws: calls.FakeAws) -> Iterator[Front]:
    app = create_app(AppContext(world.engine, settings))
    app.state.inbound = InboundState(sns=SnsVerifier(aws.fetch))  # AWS's certificate host, played on loopback
    with TestClient(app) as client:
        yield Front(world, settings, app, client, aws)


def signed(subject: str) -> bytes:
    """Alice's mail as her firm's server sends it: DKIM-signed by acme-law.com (DMARC p=reject)."""
    return KEYS["acme-law.com"].sign(mail(ALICE, ["carol@clientco.com"], subject=subject,
                                          message_id=f"<{uuid.uuid4().hex}@acme-law.com>"))


def valid_call(front: Front, service: str, raw: bytes, recipient: str = MATTER) -> calls.Call:
    if service == "postmark":
        return calls.postmark(raw, recipient)
    if service == "mailgun":
        return calls.mailgun(raw, recipient)
    if service == "sendgrid":
        return calls.sendgrid(raw, recipient)
    return calls.ses(front.aws, raw, recipient)


def forged_call(front: Front, service: str, raw: bytes) -> calls.Call:
    """Each service's call made without its secret: another password, another key."""
    if service == "postmark":
        return calls.postmark(raw, MATTER, password="guessed")
    if service == "mailgun":
        return calls.mailgun(raw, MATTER, key="key-of-somebody-else")
    if service == "sendgrid":
        return calls.sendgrid(raw, MATTER, signer=calls.ec.generate_private_key(calls.ec.SECP256R1()))
    forger = calls.FakeAws()  # its own key, pointing at AWS's certificate URL
    try:
        return calls.ses(forger, raw, MATTER)
    finally:
        forger.close()


def stale_call(front: Front, service: str, raw: bytes) -> calls.Call:
    """Signed with the right secret, but longer ago than the service goes on retrying."""
    if service == "mailgun":
        return calls.mailgun(raw, MATTER, timestamp=int(time.time()) - 9 * 3600)
    if service == "sendgrid":
        return calls.sendgrid(raw, MATTER, timestamp=int(time.time()) - 4 * 24 * 3600)
    return calls.ses(front.aws, raw, MATTER, at=datetime.now(UTC) - timedelta(hours=2))
