"""A benchmark rig: both emulators on one post office, a migrated database with one company, every
mailbox connected through the real consent flows, and the connector's own providers, sync engine
and workers (in-process, or as `bcc-capture worker` processes). Only loopback is used.

It follows tests/chaos/harness.py (same wiring, no fault injection).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from bench.workload import COMPANY_DOMAIN, TENANT_SLUG, Workload
from connector.config import Settings, load_settings
from connector.crypto import TokenCipher
from connector.db import make_engine, transaction, upgrade
from connector.models import ACTIVE_STATES, Activity, Mailbox
from connector.ports import Provider
from connector.services import mailboxes, records, tenants, users
from connector.sync.engine import SyncEngine
from connector.sync.worker import Worker
from connector.web.context import AppContext
from connector.web.server import free_port, serving
from emulators.gmail import GmailEmulator
from emulators.gmail.server import PUSH_SERVICE_ACCOUNT
from emulators.graph import EmulatorUrls, GraphEmulator
from emulators.postoffice import PostOffice
from providers.gmail.adapter import GmailProvider
from providers.gmail.auth import Consent
from providers.gmail.push import PushParser
from providers.graph.adapter import GraphProvider
from providers.graph.auth import GraphAuth
from providers.graph.push import GraphNotificationParser

SECRET = "q2Yl8kW0yYc2m0o8kH1Q3O6t7m7wz4yqfQ2d3QxT6Ds="
GMAIL_CLIENT = ("bench-client.apps.googleusercontent.com", "bench-gmail-secret")
GMAIL_TOPIC = "projects/bcc-capture/topics/gmail"
GRAPH_TENANT = "8d4f1a3e-5b2c-4e6f-9a7b-1c2d3e4f5a6b"
GRAPH_CLIENT = ("6731de76-14a6-49ae-97bc-6eba6914391e", "bench-secret")
REDIRECT = "http://localhost:8400/auth/callback"
ROOT = Path(__file__).resolve().parents[1]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Rig:
    workload: Workload
    database_url: str
    sync_overrides: dict[str, Any] = field(default_factory=dict)
    webhooks: bool = False  # serve the real web app and create subscriptions/watches (notifications)
    gmail_push_interval: float | None = None  # None: the emulator's default (1 s per user, as Gmail)
    before_start: Callable[[GraphEmulator, GmailEmulator], None] | None = None  # e.g. request observers
    settings: Settings | None = None
    engine: Engine | None = None
    office: PostOffice | None = None
    graph: GraphEmulator | None = None
    graph_urls: EmulatorUrls | None = None
    gmail: GmailEmulator | None = None
    port: int = 0
    env: dict[str, str] = field(default_factory=dict)
    providers: dict[str, Provider] = field(default_factory=dict)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    log_dir: Path = field(default_factory=lambda: ROOT / "var" / "bench")

    # ------------------------------------------------------------------------------------- set-up
    @contextmanager
    def running(self, provider_wrappers: Mapping[str, Callable[[Provider], Provider]] | None = None
                ) -> Iterator[Rig]:
        with ExitStack() as stack:
            self.office = office = PostOffice()
            self.graph = GraphEmulator(office, seed=11)
            self.gmail = GmailEmulator(office)
            if self.before_start is not None:
                self.before_start(self.graph, self.gmail)
            urls = self.graph_urls = self.graph.start()
            stack.callback(self.graph.stop)
            self.graph.register_app(GRAPH_CLIENT[0], GRAPH_CLIENT[1], [REDIRECT])
            self.graph.set_consent("approve")
            gurls = self.gmail.start()
            stack.callback(self.gmail.stop)
            self.gmail.register_oauth_client(GMAIL_CLIENT[0], GMAIL_CLIENT[1], [REDIRECT])
            for user in self.workload.users:
                if user.provider == "graph":
                    self.graph.add_user(user.address, user.name, GRAPH_TENANT)
                elif user.provider == "gmail":
                    self.gmail.add_user(user.address, user.name)
            self.port = free_port()
            self.gmail.configure_push(GMAIL_TOPIC, f"http://127.0.0.1:{self.port}/webhooks/gmail",
                                      service_account_email=PUSH_SERVICE_ACCOUNT, min_backoff=1.0, max_backoff=5.0)
            if self.gmail_push_interval is not None:
                self.gmail.set_push_interval(self.gmail_push_interval)
            gmail = {"client_id": GMAIL_CLIENT[0], "client_secret": GMAIL_CLIENT[1], "auth_uri": gurls.auth_uri,
                     "token_uri": gurls.token_uri, "api_endpoint": gurls.api_endpoint, "topic_name": GMAIL_TOPIC,
                     "push_service_account": PUSH_SERVICE_ACCOUNT, "push_certs_url": gurls.certs_url}
            os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"  # the emulator's token endpoint is plain http
            sync = {"public_url": f"http://127.0.0.1:{self.port}", **self.sync_overrides}
            self.env = {
                "BCC_CAPTURE_DATABASE__URL": self.database_url, "BCC_CAPTURE_SECRET_KEY": SECRET,
                "BCC_CAPTURE_GRAPH__CLIENT_ID": GRAPH_CLIENT[0], "BCC_CAPTURE_GRAPH__CLIENT_SECRET": GRAPH_CLIENT[1],
                "BCC_CAPTURE_GRAPH__TENANT": GRAPH_TENANT, "BCC_CAPTURE_GRAPH__AUTHORITY_HOST": urls.authority_host,
                "BCC_CAPTURE_GRAPH__GRAPH_URL": urls.graph_url, "BCC_CAPTURE_GRAPH__CA_BUNDLE": urls.ca_path,
                "OAUTHLIB_INSECURE_TRANSPORT": "1",
                **{f"BCC_CAPTURE_GMAIL__{key.upper()}": value for key, value in gmail.items()},
                **{f"BCC_CAPTURE_SYNC__{key.upper()}": str(value) for key, value in sync.items()},
            }
            self.settings = load_settings(
                database={"url": self.database_url}, secret_key=SECRET,
                graph={"client_id": GRAPH_CLIENT[0], "client_secret": GRAPH_CLIENT[1], "tenant": GRAPH_TENANT,
                       "authority_host": urls.authority_host, "graph_url": urls.graph_url, "ca_bundle": urls.ca_path},
                gmail=gmail, sync=sync)
            self.engine = make_engine(self.database_url)
            stack.callback(self.engine.dispose)
            upgrade(self.engine)
            self._seed_company()
            for person in self.workload.users:
                self.connect(person.address, person.provider)
            graph_provider: Provider = GraphProvider(self.settings, clock=utcnow)
            gmail_provider: Provider = GmailProvider(self.settings.gmail, utcnow)
            wrap = provider_wrappers or {}
            self.providers = {
                "graph": wrap["graph"](graph_provider) if "graph" in wrap else graph_provider,
                "gmail": wrap["gmail"](gmail_provider) if "gmail" in wrap else gmail_provider,
            }
            if self.webhooks:
                parsers = {"graph": GraphNotificationParser(), "gmail": PushParser(self.settings.gmail)}
                stack.enter_context(serving(AppContext(self.engine, self.settings, parsers), self.port))
            stack.callback(self.stop_workers)
            yield self

    def _seed_company(self) -> None:
        """The company, its users (capture on) and matters, written through the services.

        The domain is marked verified directly (the chaos rig proves the DNS path; here it is set-up).
        """
        assert self.engine is not None
        with transaction(self.engine) as session:
            tenant = tenants.create_tenant(session, "Acme Law", TENANT_SLUG, domain=COMPANY_DOMAIN)
            tenant.verified_at = utcnow()
            session.add(tenant)
            session.flush()
            tenants.set_enabled(session, tenant, True)
            tenants.grant(session, tenants.get_role(session, tenant, "Standard User"))
            for person in self.workload.users:
                user = users.create_user(session, tenant, person.address, person.name)
                users.set_capture(session, user, True)
            for number in self.workload.matters:
                records.create_record(session, tenant, "matter", number=number, title=f"Matter {number}")

    def connect(self, address: str, provider: str) -> None:
        """The user's consent, through the emulator's consent page, as the console drives it."""
        assert self.settings is not None and self.engine is not None and self.graph_urls is not None
        flow = GraphAuth(self.settings.graph) if provider == "graph" else Consent(self.settings.gmail)
        url, state = flow.begin(REDIRECT, login_hint=address)
        with httpx.Client(verify=self.graph_urls.ca_path, trust_env=False) as http:
            location = http.get(url, follow_redirects=False).headers["location"]
        connected = flow.finish(state, dict(parse_qsl(urlsplit(location).query)))
        with transaction(self.engine) as session:
            mailboxes.connect(session, users.get_user(session, address), provider, connected.credentials,
                              TokenCipher(SECRET.encode()))

    # ------------------------------------------------------------------------------------- in-process sync
    def worker(self, owner: str = "bench-worker", batch: int = 10) -> Worker:
        assert self.engine is not None and self.settings is not None
        sync = SyncEngine(self.engine, self.settings, self.providers, TokenCipher(SECRET.encode()), utcnow)
        return Worker(self.engine, self.settings, sync, self.providers, owner=owner, clock=utcnow, batch=batch)

    def wake_all(self) -> None:
        """What a notification does for every active mailbox: due now."""
        assert self.engine is not None
        with transaction(self.engine) as session:
            session.exec(update(Mailbox).where(  # type: ignore[call-overload]
                col(Mailbox.state).in_([s.value for s in ACTIVE_STATES])).values(next_sync_at=utcnow()))

    def drain(self, worker: Worker, timeout: float = 600) -> int:
        """Run the worker until no mailbox is due; returns the number of steps."""
        deadline = time.monotonic() + timeout
        steps = 0
        while time.monotonic() < deadline:
            results = worker.run_once()
            if not results:
                return steps
            steps += len(results)
        raise TimeoutError("the mailboxes did not drain in time")

    def send(self, index: int) -> None:
        assert self.office is not None
        message = self.workload.messages[index]
        self.office.send(message.sender.address, message.raw())

    # ------------------------------------------------------------------------------------- processes
    def start_worker(self, extra_env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        index = len(self.processes)
        log = (self.log_dir / f"worker-{index}.log").open("wb")
        env = {**os.environ, **self.env, **(extra_env or {})}
        process = subprocess.Popen([sys.executable, "-m", "connector.app.cli", "worker"], cwd=ROOT, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def stop_workers(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()

    # ------------------------------------------------------------------------------------- outcome
    def logged_count(self) -> int:
        assert self.engine is not None
        with Session(self.engine) as session:
            return int(session.exec(select(func.count()).select_from(Activity)).one())

    def logged_ids(self) -> set[str]:
        assert self.engine is not None
        with Session(self.engine) as session:
            return set(session.exec(select(Activity.internet_message_id)))
