"""An integrator connects a company's Gmail mailboxes with no consent screen: the Gmail emulator issues a
service account key and the "Workspace admin" authorizes its client id for gmail.readonly (domain-wide
delegation, over the emulator's HTTP controls); `bcc-capture tenant access acme gmail` connects every user
who enabled capture; the worker reads Alice's mailbox as the service account `.with_subject(alice)`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from google.oauth2.credentials import Credentials
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from connector.app.cli import app
from connector.config import Settings, get_settings
from connector.crypto import TokenCipher
from connector.models import Mailbox
from connector.sync import intake
from connector.sync.engine import SyncEngine
from connector.sync.worker import Worker
from emulators.gmail import GmailEmulator, GmailUrls
from providers.gmail.adapter import build
from tests.conftest import build_world
from tests.inspect_db import logged

from .conftest import MAIL_SCOPE, PROJECT, PUSH_SA, READONLY, TOPIC, PushReceiver, gmail, send

pytestmark = pytest.mark.timeout(120)
ALICE, BOB, CAROL = "alice@acme-law.com", "bob@acme-law.com", "carol@clientco.com"
MATTER = "acme+10802@bcc.example.com"
KEY = "q2Yl8kW0yYc2m0o8kH1Q3O6t7m7wz4yqfQ2d3QxT6Ds="


def _key_file(urls: GmailUrls, path: Path) -> str:
    """What the integrator does once: a key for the service account, its client id delegated gmail.readonly."""
    key = httpx.post(f"{urls.base}/emulator/service-accounts",
                     json={"email": f"capture@{PROJECT}.iam.gserviceaccount.com"}).raise_for_status().json()
    assert key["type"] == "service_account" and key["token_uri"] == urls.token_uri and key["client_id"].isdigit()
    delegated = httpx.post(f"{urls.base}/emulator/domain-wide-delegation",
                           json={"domain": "acme-law.com", "client_id": key["client_id"], "scopes": [READONLY]})
    assert delegated.status_code == 204
    path.write_text(json.dumps(key))
    return key["client_id"]


def test_an_integrator_connects_the_companys_gmail_by_delegation_and_mail_is_filed(
        engine: Engine, emulator: GmailEmulator, urls: GmailUrls, connector_settings: Settings,
        receiver: PushReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for address, name in ((ALICE, "Alice Archer"), (BOB, "Bob Baker")):
        emulator.add_user(address, name)
    emulator.configure_push(TOPIC, receiver.url, service_account_email=PUSH_SA)
    build_world(engine)
    key_file = tmp_path / "sa.json"
    client_id = _key_file(urls, key_file)

    monkeypatch.chdir(tmp_path)
    for name, value in {"DATABASE__URL": engine.url.render_as_string(hide_password=False), "SECRET_KEY": KEY,
                        "GMAIL__SERVICE_ACCOUNT_FILE": str(key_file)}.items():
        monkeypatch.setenv(f"BCC_CAPTURE_{name}", value)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["tenant", "access", "acme", "gmail"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "tenant-wide gmail access for acme: on; 2 mailbox(es) connected" in result.output
    with Session(engine) as session:
        boxes = session.exec(select(Mailbox).where(Mailbox.provider == "gmail")).all()
        assert sorted(b.address for b in boxes) == [ALICE, BOB] and all(b.app_only for b in boxes)

    settings = connector_settings.model_copy(update={"gmail": connector_settings.gmail.model_copy(
        update={"service_account_file": str(key_file)})})
    provider, parser = build(settings, lambda: datetime.now(UTC))
    cipher = TokenCipher(KEY.encode())
    sync = SyncEngine(engine, settings, {"gmail": provider}, cipher)
    worker = Worker(engine, settings, sync, {"gmail": provider}, owner="test-worker", batch=10)
    assert worker.tick_schedules() == 2  # a watch on each mailbox, as the service account
    assert all(step.ok for step in worker.run_once())  # the cursors

    alice_gmail = gmail(urls, Credentials(emulator.issue_access_token(ALICE, [MAIL_SCOPE])))
    _, first = send(alice_gmail, ALICE, CAROL, "Smith v. Jones: settlement", Bcc=MATTER)
    assert emulator.wait_push_idle()
    for push in receiver.wait_for(1):
        notes = parser.parse(push.headers, json.dumps(push.body).encode(), receiver.url)
        intake.accept(engine, "gmail", notes, datetime.now(UTC))
    assert all(step.ok for step in worker.run_once())
    filed = logged(engine, first)
    assert filed is not None and "matter:10802" in filed.filed_under and filed.sources == {("gmail", ALICE)}

    # The admin removes the delegation: the next token is refused and the mailbox asks to be reconnected.
    send(alice_gmail, ALICE, CAROL, "Another matter", Bcc=MATTER)
    assert httpx.request("DELETE", f"{urls.base}/emulator/domain-wide-delegation",
                         json={"domain": "acme-law.com", "client_id": client_id}).status_code == 204
    emulator.expire_access_tokens(ALICE)
    with Session(engine) as session:
        [alice_box] = [b for b in boxes if b.address == ALICE]
        intake.wake(session, alice_box.id, datetime.now(UTC))  # as her next push would
        session.commit()
    worker.run_once()
    with Session(engine) as session:
        row = session.get(Mailbox, alice_box.id)
        assert row is not None and row.state == "needs_reconnect"
