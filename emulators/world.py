"""The emulated world: both provider emulators on one post office, settings pointing at them, and the
connector assembled against them.

A composition root beside connector/app/assembly.py (whose `assemble` it calls): the only other place
the core meets concrete providers. Two layers, so each caller takes only what it needs:

* `running()` → `Sandbox`: the emulators, their users and the settings that point at them. Used by
  `bcc-capture emulate` and by the console tests, which assemble their own app.
* `build(Plan)` → `World`: the same, plus the assembled connector on a database, its web app
  (webhooks and console) on a loopback port, mailboxes connected through consent or tenant-wide
  access, and `bcc-capture worker` processes. Used by the demo, the chaos test and the benchmarks.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connector.app.assembly import Assembly, assemble
from connector.config import Settings, load_settings
from connector.db import transaction, upgrade
from connector.models import Activity
from connector.ports import Connected, ConsentFlow
from connector.services import mailboxes, tenant_access, tenants, user_mailboxes, users
from connector.web.server import free_port, serving
from emulators.gmail import GmailEmulator, GmailUrls
from emulators.gmail.server import PUSH_SERVICE_ACCOUNT
from emulators.graph import EmulatorUrls, GraphEmulator
from emulators.graph.browser import redirect_parameters
from emulators.postoffice import PostOffice
from emulators.processes import WorkerProcesses

GRAPH_TENANT = "5f0c3a1e-ac3e-4a1b-9c7d-0e1f2a3b4c5d"
GRAPH_APP = ("0a1b2c3d-bcc0-4ca0-9e00-000000000001", "sandbox-graph-secret")
GMAIL_APP = ("bcc-capture-sandbox.apps.googleusercontent.com", "sandbox-gmail-secret")
GMAIL_PROJECT = "bcc-capture-sandbox"  # the Cloud project of the OAuth client: Gmail's watch topic must be in it
GMAIL_TOPIC = f"projects/{GMAIL_PROJECT}/topics/gmail"
# The connector's OAuth callbacks (consent, sign-in, tenant-wide access), relative to its public URL.
CALLBACKS = ("/oauth/graph/callback", "/oauth/gmail/callback", "/signin/microsoft/callback",
             "/signin/google/callback", "/admin/access/callback")

Person = tuple[str, str, str]  # address, display name, "graph" | "gmail"
BeforeStart = Callable[[GraphEmulator, GmailEmulator], None]


@dataclass(frozen=True)
class Apps:
    """How the connector is registered at Microsoft and Google; tests that assert on ids bring their own."""

    graph: tuple[str, str] = GRAPH_APP  # client id, secret
    graph_tenant: str = GRAPH_TENANT
    gmail: tuple[str, str] = GMAIL_APP
    topic: str = GMAIL_TOPIC
    project: str = GMAIL_PROJECT  # of the Gmail client
    push_service_account: str = PUSH_SERVICE_ACCOUNT


def callbacks(public_url: str) -> list[str]:
    base = public_url.rstrip("/")
    return [base + path for path in CALLBACKS]


def graph_section(urls: EmulatorUrls, apps: Apps) -> dict[str, Any]:
    """`settings.graph` for the Microsoft emulators (identity over TLS with the emulator's CA)."""
    return {"client_id": apps.graph[0], "client_secret": apps.graph[1], "tenant": apps.graph_tenant,
            "authority_host": urls.authority_host, "graph_url": urls.graph_url, "ca_bundle": urls.ca_path}


def gmail_section(urls: GmailUrls, apps: Apps) -> dict[str, Any]:
    """`settings.gmail` for the Google emulators (OAuth, the Gmail API and the push signing keys)."""
    return {"client_id": apps.gmail[0], "client_secret": apps.gmail[1], "auth_uri": urls.auth_uri,
            "token_uri": urls.token_uri, "api_endpoint": urls.api_endpoint, "topic_name": apps.topic,
            "project_id": apps.project,
            "push_service_account": apps.push_service_account, "push_certs_url": urls.certs_url}


def _merged(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides``; sections (dicts) are merged key by key, so sync knobs keep public_url."""
    merged = dict(base)
    for key, value in overrides.items():
        merged[key] = {**merged[key], **value} if isinstance(value, dict) and key in merged else value
    return merged


def _environment(overrides: Mapping[str, Any]) -> dict[str, str]:
    """load_settings keywords as the BCC_CAPTURE_* variables that say the same to another process."""
    env: dict[str, str] = {}
    for key, value in overrides.items():
        items = value.items() if isinstance(value, dict) else [("", value)]
        for sub, item in items:
            if item not in (None, "") and not isinstance(item, bool):
                env[f"BCC_CAPTURE_{key.upper()}" + (f"__{sub.upper()}" if sub else "")] = str(item)
    return env


@dataclass
class Sandbox:
    post_office: PostOffice
    graph: GraphEmulator
    gmail: GmailEmulator
    graph_urls: EmulatorUrls
    gmail_urls: GmailUrls
    redirect_uris: list[str] = field(default_factory=list)
    apps: Apps = Apps()

    def overrides(self, public_url: str | None = None, **overrides: Any) -> dict[str, Any]:
        """load_settings keywords pointing the providers at the emulators (and the webhooks at ``public_url``)."""
        found: dict[str, Any] = {"graph": graph_section(self.graph_urls, self.apps),
                                 "gmail": gmail_section(self.gmail_urls, self.apps)}
        if public_url is not None:
            found["sync"] = {"public_url": public_url}
        return _merged(found, overrides)

    def settings(self, public_url: str | None = None, **overrides: Any) -> Settings:
        """Settings for the connector, with the providers' endpoints pointing at the emulators."""
        return load_settings(**self.overrides(public_url, **overrides))

    def environment(self, public_url: str | None = None, **overrides: Any) -> dict[str, str]:
        """The same, as BCC_CAPTURE_* variables for another process (`bcc-capture worker`, `serve`)."""
        wanted = self.overrides(public_url, **overrides)
        settings = load_settings(**wanted)
        env = {"OAUTHLIB_INSECURE_TRANSPORT": "1", **_environment(wanted)}
        for section in ("graph", "gmail"):  # the whole sections, defaults included, as an integrator sees them
            env.update(_environment({section: getattr(settings, section).model_dump()}))
        return env

    def add_user(self, address: str, name: str, provider: str, upn: str = "") -> None:
        """``upn``: a Microsoft user's sign-in name when it is not her mailbox address."""
        if provider == "graph":
            self.graph.add_user(address, name, self.apps.graph_tenant, upn=upn)
        else:
            self.gmail.add_user(address, name)

    def allow_redirects(self, redirect_uris: Sequence[str]) -> None:
        """(Re-)register the connector's apps at both identity emulators, with these redirect URIs."""
        self.redirect_uris = list(redirect_uris)
        self.graph.register_app(self.apps.graph[0], self.apps.graph[1], self.redirect_uris)
        self.gmail.register_oauth_client(self.apps.gmail[0], self.apps.gmail[1], self.redirect_uris,
                                         self.apps.project)

    def push_to(self, public_url: str, max_backoff: float = 10.0) -> None:
        """Point the Pub/Sub push subscription at the connector's Gmail webhook."""
        self.gmail.configure_push(self.apps.topic, f"{public_url.rstrip('/')}/webhooks/gmail",
                                  service_account_email=self.apps.push_service_account, min_backoff=1.0,
                                  max_backoff=max_backoff)

    def consent(self, flow: ConsentFlow, redirect_uri: str, address: str) -> Connected:
        """Walk a consent the way a browser would (the emulators approve at once in this mode)."""
        url, state = flow.begin(redirect_uri, login_hint=address)
        with httpx.Client(verify=self.graph_urls.ca_path, trust_env=False) as http:
            reply = http.get(url, follow_redirects=False)
        return flow.finish(state, redirect_parameters(reply.status_code, reply.headers, reply.text)[1])


@contextmanager
def running(redirect_uris: Sequence[str], consent: str = "approve", *, apps: Apps = Apps(),
            seed: int | None = None, before_start: BeforeStart | None = None) -> Iterator[Sandbox]:
    """Start both emulators on one post office; ``consent`` "approve" (scripted) or "page" (a person).

    ``seed`` fixes the Graph emulator's dice (ids, injected faults); ``before_start`` sees both emulators
    before they listen (e.g. to observe requests).
    """
    os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the emulated Google token endpoint is http
    with ExitStack() as stack:
        office = PostOffice()
        graph, gmail = GraphEmulator(office, seed=seed), GmailEmulator(office)
        if before_start is not None:
            before_start(graph, gmail)
        graph_urls = graph.start()
        stack.callback(graph.stop)
        gmail_urls = gmail.start()
        stack.callback(gmail.stop)
        sandbox = Sandbox(office, graph, gmail, graph_urls, gmail_urls, apps=apps)
        sandbox.allow_redirects(redirect_uris)
        graph.set_consent("page" if consent == "page" else "approve")
        gmail.set_consent("interactive" if consent == "page" else "approve")
        yield sandbox


def describe(sandbox: Sandbox) -> list[tuple[str, str]]:
    return [("Microsoft identity", sandbox.graph_urls.authority(sandbox.apps.graph_tenant)),
            ("Microsoft Graph", sandbox.graph_urls.graph_url),
            ("emulator test CA", sandbox.graph_urls.ca_path),
            ("Google OAuth", sandbox.gmail_urls.auth_uri),
            ("Gmail API", sandbox.gmail_urls.api_endpoint)]


# ------------------------------------------------------------------------------ the connector on top
@dataclass
class Plan:
    """What `build` makes; each caller sets only what it cares about."""

    database_url: str
    people: Sequence[Person] = ()  # mailboxes in the emulators (users in the database are the caller's)
    # Microsoft users whose sign-in name is not their mailbox address: address → UPN, e.g.
    # u.name@acmelaw.onmicrosoft.com (learn.microsoft.com/en-us/graph/api/resources/user: userPrincipalName, mail)
    upns: Mapping[str, str] = field(default_factory=dict)
    secret_key: str | None = None  # None: the development key file, which only this process knows
    sync: Mapping[str, Any] = field(default_factory=dict)  # settings.sync knobs
    migrate: bool = False  # a fresh database: run the migrations (otherwise it must be migrated already)
    webhooks: bool = True  # serve the web app (webhooks and console) at the public URL
    consent: str = "approve"
    seed: int | None = None
    before_start: BeforeStart | None = None
    push_max_backoff: float = 10.0
    push_interval: float | None = None  # None: the Gmail emulator's own (1 s per user, as Gmail)
    port: int | None = None  # the web app's; None: a free one
    log_dir: Path = Path("var/world")  # worker processes' logs

    def overrides(self) -> dict[str, Any]:
        found: dict[str, Any] = {"database": {"url": self.database_url}, "sync": dict(self.sync)}
        if self.secret_key:
            found["secret_key"] = self.secret_key
        return found


@dataclass
class World:
    """A running sandbox with the connector assembled against it."""

    sandbox: Sandbox
    assembly: Assembly
    public_url: str
    workers: WorkerProcesses  # `bcc-capture worker` processes on the same settings (environment)
    upns: Mapping[str, str] = field(default_factory=dict)  # Plan.upns

    @property
    def engine(self) -> Engine:
        return self.assembly.engine

    @property
    def settings(self) -> Settings:
        return self.assembly.settings

    def connect(self, address: str, provider: str) -> None:
        """The user's consent on the emulator's page (signing in with her UPN where it is not her address), kept
        as the console's OAuth callback keeps it: the mailbox the provider names must be one of her addresses."""
        flow = self.assembly.consent_flows[provider]
        sign_in = self.upns.get(address, address) if provider == "graph" else address
        connected = self.sandbox.consent(flow, f"{self.public_url}/oauth/{provider}/callback", sign_in)
        with transaction(self.engine) as session:
            user = users.get_user(session, address)
            user_mailboxes.connect_after_consent(session, user, provider, connected.address, connected.credentials,
                                                 self.assembly.cipher, connected.provider_user_id)

    def grant_tenant_wide(self, tenant_slug: str) -> int:
        """A Global Administrator's consent for the whole Microsoft tenant, recorded as the console's access
        callback does: every user with capture on is connected without a consent of their own (how many)."""
        apps = self.sandbox.apps
        self.sandbox.graph.grant_admin_consent(apps.graph_tenant, apps.graph[0])
        with transaction(self.engine) as session:
            tenant = tenants.get_tenant(session, tenant_slug)
            return tenant_access.grant_graph(session, tenant, apps.graph_tenant, self.assembly.cipher)

    def logged_ids(self) -> list[str]:
        """The Message-ID of every logged activity (a list: a duplicate would show twice)."""
        with Session(self.engine) as session:
            return list(session.exec(select(Activity.internet_message_id)))

    def health(self) -> list[mailboxes.Health]:
        with Session(self.engine) as session:
            return mailboxes.all_health(session)

    def settle(self, expected: set[str], timeout: float, poll: float = 0.2) -> float:
        """Seconds until every expected message is logged and every mailbox reports synced (-1: timeout)."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if set(self.logged_ids()) >= expected and all(h.status == "synced" for h in self.health()):
                return time.monotonic() - start
            time.sleep(poll)
        return -1.0


@contextmanager
def build(plan: Plan) -> Iterator[World]:
    """Emulators with ``plan.people``, the connector assembled on ``plan.database_url`` and pointed at them,
    its web app serving when asked. Mailboxes are connected afterwards (`World.connect`), once the caller
    has created the users."""
    port = plan.port or free_port()
    public = f"http://127.0.0.1:{port}"
    with running(callbacks(public), plan.consent, seed=plan.seed, before_start=plan.before_start) as sandbox, \
            ExitStack() as stack:
        for address, name, provider in plan.people:
            sandbox.add_user(address, name, provider, plan.upns.get(address, ""))
        sandbox.push_to(public, max_backoff=plan.push_max_backoff)
        if plan.push_interval is not None:
            sandbox.gmail.set_push_interval(plan.push_interval)
        assembly = assemble(sandbox.settings(public, **plan.overrides()), check_schema=not plan.migrate)
        stack.callback(assembly.engine.dispose)
        if plan.migrate:
            upgrade(assembly.engine)
        workers = WorkerProcesses(sandbox.environment(public, **plan.overrides()), plan.log_dir)
        if plan.webhooks:
            stack.enter_context(serving(assembly.app_context(), port))
        stack.callback(workers.stop)
        yield World(sandbox, assembly, public, workers, plan.upns)
