"""The console under test: a real database (SQLite and PostgreSQL), Acme Law with an administrator,
another company whose ids must never show, and the Microsoft and Google emulators as identity providers.

Signing in always goes through the real OpenID Connect flow against the emulators (no back door).
"""

from __future__ import annotations

import html
import re
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI, Response
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, select

from connector.config import Settings
from connector.crypto import TokenCipher
from connector.db import make_engine, transaction, upgrade
from connector.models import Attachment, Tenant, User
from connector.ports import SignIn
from connector.services import mailboxes, records, tenants, users
from connector.services.capture import Capture
from connector.services.dns_verify import DnsPythonResolver
from connector.web.app import create_app
from connector.web.codes import RecordingCodeSender
from connector.web.context import AppContext
from emulators.dns import TxtServer
from emulators.gmail import GmailEmulator
from emulators.graph import EmulatorUrls, GraphEmulator
from emulators.graph.browser import redirect_parameters
from emulators.world import CALLBACKS, Apps, Sandbox, running
from providers.gmail.auth import Consent as GmailConsent
from providers.gmail.signin import GoogleSignIn
from providers.graph.auth import GraphAuth
from providers.graph.signin import MicrosoftSignIn
from tests.conftest import FIXED_NOW, StaticTxt, World, build_world
from tests.mailbuilder import mail, to_dropbox

GRAPH_CLIENT = "5f1c0a9e-7d4b-4b8e-9a51-3c2e1d0f9a77"
GRAPH_SECRET = "console-test-secret"
GRAPH_TENANT = "3a6e5f1d-2b4c-4d8e-8f9a-0b1c2d3e4f5a"
GOOGLE_CLIENT = "console-test.apps.googleusercontent.com"
GOOGLE_SECRET = "console-google-secret"
PEOPLE = {"alice@acme-law.com": "Alice Archer", "bob@acme-law.com": "Bob Baker", "ada@acme-law.com": "Ada Admin",
          "oscar@other.example": "Oscar Other", "stranger@elsewhere.example": "Sam Stranger"}
MATTER = "acme+10802@bcc.example.com"
ALICE = "Alice Archer <alice@acme-law.com>"
PDF = ("brief.pdf", "application/pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")


# ------------------------------------------------------------------------------------------ database
# Stories about forms and pages run on SQLite; those whose queries differ between databases run on both.
sqlite_only = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, _engines: dict[str, Engine],
           tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """tests/conftest.py's engines, emptied with DELETE: PostgreSQL's TRUNCATE … CASCADE takes ~0.4 s a test,
    DELETE of these few rows ~0.02 s (ids then keep counting, which no story relies on)."""
    backend = request.param
    if backend not in _engines:
        url = (f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}" if backend == "sqlite"
               else request.getfixturevalue("pg_url"))
        _engines[backend] = make_engine(url)
        upgrade(_engines[backend])
    found = _engines[backend]
    with found.begin() as connection:
        for table in reversed(SQLModel.metadata.sorted_tables):
            connection.execute(table.delete())
    return found


# ----------------------------------------------------------------------------------- identity providers
APPS = Apps(graph=(GRAPH_CLIENT, GRAPH_SECRET), graph_tenant=GRAPH_TENANT, gmail=(GOOGLE_CLIENT, GOOGLE_SECRET))


@dataclass
class Idps:
    sandbox: Sandbox
    ssl: ssl.SSLContext

    @property
    def graph(self) -> GraphEmulator:
        return self.sandbox.graph

    @property
    def graph_urls(self) -> EmulatorUrls:
        return self.sandbox.graph_urls

    @property
    def gmail(self) -> GmailEmulator:
        return self.sandbox.gmail

    def register(self, base: str) -> None:
        """Allow redirects back to a console served at ``base`` (TestClient or a live server)."""
        self.sandbox.allow_redirects([f"{base}{path}" for path in CALLBACKS])


@pytest.fixture(scope="session")
def idps() -> Iterator[Idps]:
    """The emulators of emulators/world.py, every person with a Microsoft and a Google account."""
    with running([], apps=APPS, seed=3) as sandbox:
        for address, name in PEOPLE.items():
            sandbox.add_user(address, name, "graph")
            sandbox.add_user(address, name, "gmail")
        yield Idps(sandbox, ssl.create_default_context(cafile=sandbox.graph_urls.ca_path))


@pytest.fixture(autouse=True)
def _loopback_oauth(monkeypatch: pytest.MonkeyPatch) -> None:
    # oauthlib refuses the Gmail emulator's plain-http token endpoint unless told (tests only).
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


def console_settings(idps: Idps) -> Settings:
    return idps.sandbox.settings(secret_key=Fernet.generate_key().decode())


def consent_flows(settings: Settings) -> dict[str, object]:
    """The adapters' own consent flows, as the composition root will pass them."""
    return {"graph": GraphAuth(settings.graph), "gmail": GmailConsent(settings.gmail)}


def sign_ins(settings: Settings) -> dict[str, SignIn]:
    """The adapters' console sign-ins, as the composition root registers them."""
    return {"microsoft": MicrosoftSignIn(settings.graph), "google": GoogleSignIn(settings.gmail)}


# ------------------------------------------------------------------------------------------ the data
@dataclass
class Other:
    """Another company, and one id of every kind it owns: none may ever show to Acme."""

    tenant: Tenant
    oscar: User
    record_id: int
    activity_id: int
    attachment_id: int
    unassigned_id: int
    mailbox_id: int
    role_id: int


@dataclass
class Site:
    world: World
    ada: User
    other: Other
    settings: Settings
    context: AppContext
    app: FastAPI
    idps: Idps
    codes: RecordingCodeSender
    dns: TxtServer
    capture: Capture
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def engine(self) -> Engine:
        return self.world.engine


def build_other(engine: Engine, settings: Settings) -> Other:
    with transaction(engine) as session:
        tenant = tenants.create_tenant(session, "Other Co", "other", domain="other.example")
        tenants.verify_domain(session, tenant, StaticTxt({"other.example": [tenants.txt_record(tenant)]}))
        tenants.set_enabled(session, tenant, True)
        role = tenants.get_role(session, tenant, "Standard User")
        tenants.grant(session, role)
        oscar = users.create_user(session, tenant, "oscar@other.example", "Oscar Other")
        users.set_capture(session, oscar, True)
        record = records.create_record(session, tenant, "matter", number="777", title="Other v. Acme")
        records.create_record(session, tenant, "contact", email="olga@client.example", name="Olga Client")
        mailbox = mailboxes.connect(session, oscar, "gmail", "{}", TokenCipher.from_settings(settings))
    capture = Capture(engine, settings, clock=lambda: FIXED_NOW)
    logged = capture.process(to_dropbox(mail("Oscar Other <oscar@other.example>", ["olga@client.example"],
                                             bcc=["other+777@bcc.example.com"], subject="Other's secret brief",
                                             message_id="<other-1@other.example>", attachments=[PDF])))
    kept = capture.process(to_dropbox(mail("Oscar Other <oscar@other.example>", ["nobody@unknown.example"],
                                           bcc=["notes@bcc.example.com"], subject="Other's unassigned",
                                           message_id="<other-2@other.example>")))
    assert logged.activity_id and kept.unassigned_id
    with transaction(engine) as session:
        attachment = session.exec(select(Attachment).where(Attachment.activity_id == logged.activity_id)).one()
    assert record.id and mailbox.id and attachment.id and role.id
    return Other(tenant, oscar, record.id, logged.activity_id, attachment.id, kept.unassigned_id, mailbox.id, role.id)


@pytest.fixture(scope="session")
def _dns() -> Iterator[TxtServer]:
    with TxtServer() as server:
        yield server


@pytest.fixture
def dns(_dns: TxtServer) -> TxtServer:
    """A real DNS server on loopback that the console's resolver asks; empty for each test."""
    _dns.records.clear()
    return _dns


@pytest.fixture
def site(engine: Engine, idps: Idps, dns: TxtServer) -> Site:
    settings = console_settings(idps)
    world = build_world(engine)
    with transaction(engine) as session:
        tenant = session.get(Tenant, world.tenant.id)
        assert tenant is not None
        ada = users.create_user(session, tenant, "ada@acme-law.com", "Ada Admin", role="Administrator")
    other = build_other(engine, settings)
    codes = RecordingCodeSender()
    context = AppContext(engine, settings, consent_flows=consent_flows(settings), sign_ins=sign_ins(settings),
                         clock=lambda: FIXED_NOW,
                         resolver=DnsPythonResolver(["127.0.0.1"], port=dns.port, lifetime=2.0), code_sender=codes)
    return Site(world, ada, other, settings, context, create_app(context), idps, codes, dns,
                Capture(engine, settings, clock=lambda: FIXED_NOW))


# ---------------------------------------------------------------------------------------- the browser
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


@pytest.fixture
def client(site: Site) -> Iterator[TestClient]:
    site.idps.register("http://testserver")
    with TestClient(site.app, follow_redirects=False) as test_client:
        yield test_client


def idp_answer(idps: Idps, location: str) -> tuple[str, dict[str, str], bool]:
    """What the identity provider (consent auto-approved) sends back: the callback path, its parameters, and
    whether they come as a form to post (``response_mode=form_post``) rather than a redirect."""
    reply = httpx.get(location, verify=idps.ssl, follow_redirects=False)
    target, fields = redirect_parameters(reply.status_code, reply.headers, reply.text)
    return urlsplit(target).path, fields, reply.status_code not in (302, 303)


def back_from_idp(client: TestClient, idps: Idps, location: str) -> Response:
    """A browser's round trip through the identity provider: the redirect back (GET), or the form_post page
    submitted (POST) and the console's 303 to its GET followed. Returns the callback's final answer."""
    path, fields, posted = idp_answer(idps, location)
    if not posted:
        return client.get(path, params=fields)
    relayed = client.post(path, data=fields)
    assert relayed.status_code == 303, relayed.text
    return client.get(relayed.headers["location"])


def sign_in(client: TestClient, site: Site, email: str) -> str:
    """Sign in with Microsoft as ``email`` (the emulator's consent approves); returns the CSRF token."""
    site.idps.graph.set_consent("approve", login_user=email)
    page = client.get("/signin")
    if page.status_code == 303:  # someone else is signed in on this browser
        client.post("/signout", data={"csrf": csrf_of(client.get("/me").text)})
        page = client.get("/signin")
    started = client.post("/signin/microsoft", data={"csrf": csrf_of(page.text)})
    assert started.status_code == 303, started.text
    back = back_from_idp(client, site.idps, started.headers["location"])
    assert back.status_code == 303, back.text
    return csrf_of(client.get("/me").text)


def flash_of(page: str) -> list[str]:
    """The messages a page shows after a form (success or error), as a person reads them."""
    found = re.findall(r'class="flash flash-\w+"[^>]*>(.*?)</div>', page, re.S)
    return [html.unescape(re.sub(r"\s+", " ", m)).strip() for m in found]


def text_of(page: str) -> str:
    """The page's text without tags, entities resolved, whitespace collapsed."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def log_matter_mail(site: Site, subject: str = "Settlement draft", message_id: str = "<m1@acme-law.com>",
                    **kw: object) -> int:
    raw = mail(ALICE, ["Carol Client <carol@clientco.com>"], bcc=[MATTER], subject=subject, message_id=message_id,
               **kw)  # type: ignore[arg-type]
    applied = site.capture.process(to_dropbox(raw))
    assert applied.activity_id is not None, applied
    return applied.activity_id
