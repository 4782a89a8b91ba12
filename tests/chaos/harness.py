"""The chaos rig: both emulators on one post office, the real webhook app, N worker *processes*.

The rig connects every mailbox through the real consent flows, starts workers as separate
`bcc-capture worker` processes (so `kill -9` is real), sends the generated workload through the
post office while the emulators drop, duplicate, delay and reorder notifications and answer some
calls with 429/503, expires a delta token and a history id, revokes a grant (and reconnects it
later), and then waits for the system to settle.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bench.workload import COMPANY_DOMAIN, TENANT_SLUG, Workload
from connector.config import Settings, load_settings
from connector.crypto import TokenCipher
from connector.db import make_engine, transaction, upgrade
from connector.models import Activity, Attachment
from connector.services import mailboxes, records, tenants, users
from connector.services.dns_verify import DnsPythonResolver
from connector.web.context import AppContext
from connector.web.server import free_port, serving
from emulators.dns import TxtServer
from emulators.gmail import GmailEmulator
from emulators.gmail.server import PUSH_SERVICE_ACCOUNT
from emulators.graph import EmulatorUrls, GraphEmulator
from emulators.postoffice import PostOffice
from providers.gmail.auth import Consent
from providers.gmail.push import PushParser
from providers.graph.auth import GraphAuth
from providers.graph.push import GraphNotificationParser

SECRET = "q2Yl8kW0yYc2m0o8kH1Q3O6t7m7wz4yqfQ2d3QxT6Ds="
GMAIL_CLIENT = ("chaos-client.apps.googleusercontent.com", "chaos-gmail-secret")
GMAIL_TOPIC = "projects/bcc-capture/topics/gmail"
GRAPH_TENANT = "8d4f1a3e-5b2c-4e6f-9a7b-1c2d3e4f5a6b"
GRAPH_CLIENT = ("6731de76-14a6-49ae-97bc-6eba6914391e", "chaos-secret")
REDIRECT = "http://localhost:8400/auth/callback"
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Faults:
    drop: float = 0.10
    duplicate: float = 0.10
    delay: float = 0.10
    delay_seconds: float = 2.0
    http_errors: float = 0.05


@dataclass
class Rig:
    workload: Workload
    database_url: str
    workers: int = 3
    faults: Faults = field(default_factory=Faults)
    settings: Settings | None = None
    engine: Engine | None = None
    graph: GraphEmulator | None = None
    graph_urls: EmulatorUrls | None = None
    gmail: GmailEmulator | None = None
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    kills: int = 0
    log_dir: Path = field(default_factory=lambda: ROOT / "var" / "chaos")

    # ------------------------------------------------------------------------------------------ set-up
    @contextmanager
    def running(self) -> Iterator[Rig]:
        with ExitStack() as stack:
            office = PostOffice()
            self.graph = GraphEmulator(office, seed=11)
            urls = self.graph_urls = self.graph.start()
            stack.callback(self.graph.stop)
            self.graph.register_app(GRAPH_CLIENT[0], GRAPH_CLIENT[1], [REDIRECT])
            self.graph.set_consent("approve")
            for user in self.workload.users:
                if user.provider == "graph":
                    self.graph.add_user(user.address, user.name, GRAPH_TENANT)
            self.gmail = GmailEmulator(office)
            gurls = self.gmail.start()
            stack.callback(self.gmail.stop)
            self.gmail.register_oauth_client(GMAIL_CLIENT[0], GMAIL_CLIENT[1], [REDIRECT])
            for user in self.workload.users:
                if user.provider == "gmail":
                    self.gmail.add_user(user.address, user.name)
            port = free_port()
            self.gmail.configure_push(GMAIL_TOPIC, f"http://127.0.0.1:{port}/webhooks/gmail",
                                      service_account_email=PUSH_SERVICE_ACCOUNT, min_backoff=1.0, max_backoff=5.0)
            gmail = {"client_id": GMAIL_CLIENT[0], "client_secret": GMAIL_CLIENT[1], "auth_uri": gurls.auth_uri,
                     "token_uri": gurls.token_uri, "api_endpoint": gurls.api_endpoint, "topic_name": GMAIL_TOPIC,
                     "push_service_account": PUSH_SERVICE_ACCOUNT, "push_certs_url": gurls.certs_url}
            os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"  # the emulator's token endpoint is plain http
            self.env = {
                "BCC_CAPTURE_DATABASE__URL": self.database_url, "BCC_CAPTURE_SECRET_KEY": SECRET,
                "BCC_CAPTURE_GRAPH__CLIENT_ID": GRAPH_CLIENT[0], "BCC_CAPTURE_GRAPH__CLIENT_SECRET": GRAPH_CLIENT[1],
                "BCC_CAPTURE_GRAPH__TENANT": GRAPH_TENANT, "BCC_CAPTURE_GRAPH__AUTHORITY_HOST": urls.authority_host,
                "BCC_CAPTURE_GRAPH__GRAPH_URL": urls.graph_url, "BCC_CAPTURE_GRAPH__CA_BUNDLE": urls.ca_path,
                "OAUTHLIB_INSECURE_TRANSPORT": "1",
                **{f"BCC_CAPTURE_GMAIL__{key.upper()}": value for key, value in gmail.items()},
                "BCC_CAPTURE_SYNC__PUBLIC_URL": f"http://127.0.0.1:{port}",
                "BCC_CAPTURE_SYNC__SAFETY_NET_MINUTES": "0.05",  # a dropped notification costs 3 s at most
                "BCC_CAPTURE_SYNC__LEASE_SECONDS": "5",  # a killed worker's mailboxes move on after 5 s
                "BCC_CAPTURE_SYNC__MAX_BACKOFF_SECONDS": "5",
            }
            self.settings = load_settings(
                database={"url": self.database_url}, secret_key=SECRET,
                graph={"client_id": GRAPH_CLIENT[0], "client_secret": GRAPH_CLIENT[1], "tenant": GRAPH_TENANT,
                       "authority_host": urls.authority_host, "graph_url": urls.graph_url, "ca_bundle": urls.ca_path},
                gmail=gmail,
                sync={"public_url": f"http://127.0.0.1:{port}", "safety_net_minutes": 0.05, "lease_seconds": 5})
            self.engine = make_engine(self.database_url)
            upgrade(self.engine)
            self._seed_company()
            self._connect_all()
            parsers = {"graph": GraphNotificationParser(), "gmail": PushParser(self.settings.gmail)}
            context = AppContext(self.engine, self.settings, parsers)
            stack.enter_context(serving(context, port))
            self.log_dir.mkdir(parents=True, exist_ok=True)
            for _ in range(self.workers):
                self.start_worker()
            stack.callback(self.stop_workers)
            yield self

    def _seed_company(self) -> None:
        assert self.engine is not None
        with transaction(self.engine) as session:
            tenant = tenants.create_tenant(session, "Acme Law", TENANT_SLUG, domain=COMPANY_DOMAIN)
            record = tenants.txt_record(tenant)
        with TxtServer({COMPANY_DOMAIN: [record]}) as dns, transaction(self.engine) as session:
            tenant = tenants.get_tenant(session, TENANT_SLUG)
            tenants.verify_domain(session, tenant, DnsPythonResolver([dns.host], dns.port))
            tenants.set_enabled(session, tenant, True)
            tenants.grant(session, tenants.get_role(session, tenant, "Standard User"))
            for person in self.workload.users:
                user = users.create_user(session, tenant, person.address, person.name)
                users.set_capture(session, user, True)
            for number in self.workload.matters:
                records.create_record(session, tenant, "matter", number=number, title=f"Matter {number}")

    def _connect_all(self) -> None:
        for person in self.workload.users:
            self.connect(person.address)

    def provider_of(self, address: str) -> str:
        return next(p.provider for p in self.workload.users if p.address == address)

    def connect(self, address: str) -> None:
        """The user's consent, through the emulator's consent page, as the console would drive it."""
        assert self.settings is not None and self.engine is not None
        provider = self.provider_of(address)
        flow = GraphAuth(self.settings.graph) if provider == "graph" else Consent(self.settings.gmail)
        url, state = flow.begin(REDIRECT, login_hint=address)
        with httpx.Client(verify=self.graph_urls.ca_path if self.graph_urls else True, trust_env=False) as http:
            location = http.get(url, follow_redirects=False).headers["location"]
        connected = flow.finish(state, dict(parse_qsl(urlsplit(location).query)))
        with transaction(self.engine) as session:
            mailboxes.connect(session, users.get_user(session, address), provider, connected.credentials,
                              TokenCipher(SECRET.encode()))

    # ------------------------------------------------------------------------------------------ workers
    def start_worker(self) -> None:
        index = len(self.processes)
        log = (self.log_dir / f"worker-{index}.log").open("wb")
        env = {**os.environ, **self.env}
        process = subprocess.Popen([sys.executable, "-m", "connector.app.cli", "worker"], cwd=ROOT, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)

    def kill_one(self) -> None:
        """kill -9 the oldest live worker and start a replacement."""
        live = [p for p in self.processes if p.poll() is None]
        live[0].send_signal(signal.SIGKILL)
        live[0].wait()
        self.kills += 1
        self.start_worker()

    def stop_workers(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()

    # ------------------------------------------------------------------------------------------ chaos
    def arm_faults(self) -> None:
        assert self.graph is not None and self.gmail is not None
        f = self.faults
        self.gmail.drop_pushes(next_n=None, probability=f.drop)
        self.gmail.duplicate_pushes(next_n=None, probability=f.duplicate)
        self.gmail.delay_pushes(f.delay_seconds, next_n=None, probability=f.delay)
        self.gmail.reorder_pushes(window=5)
        self.gmail.quota_storm(next_n=None, probability=f.http_errors / 2, retry_after=1)
        self.gmail.fail_requests(503, next_n=None, probability=f.http_errors / 2)
        self.graph.faults.drop_notifications(probability=f.drop)
        self.graph.faults.duplicate_notifications(probability=f.duplicate)
        self.graph.faults.delay_notifications(f.delay_seconds, probability=f.delay)
        self.graph.faults.reorder_notifications(next_n=5)
        self.graph.faults.inject_http_errors(429, probability=f.http_errors / 2, retry_after=1)
        self.graph.faults.inject_http_errors(503, probability=f.http_errors / 2, retry_after=1)

    def send_all(self, actions: dict[float, Callable[[], None]] | None = None) -> None:
        """Send the workload in order; when a fraction of it is sent, run the chaos action due then."""
        assert self.graph is not None
        pending = sorted((actions or {}).items())
        total = len(self.workload.messages)
        for index, message in enumerate(self.workload.messages):
            self.graph.post_office.send(message.sender.address, message.raw())
            while pending and pending[0][0] <= (index + 1) / total:
                pending.pop(0)[1]()

    # ------------------------------------------------------------------------------------------ outcome
    def calm(self) -> None:
        """End the storm: the system must now converge on its own."""
        assert self.graph is not None and self.gmail is not None
        self.graph.faults.clear()
        self.gmail.clear_push_faults()
        self.gmail.clear_request_faults()

    def logged_ids(self) -> list[str]:
        assert self.engine is not None
        with Session(self.engine) as session:
            return list(session.exec(select(Activity.internet_message_id)))

    def threads(self) -> dict[int, set[str]]:
        assert self.engine is not None
        with Session(self.engine) as session:
            grouped: dict[int, set[str]] = {}
            for activity in session.exec(select(Activity)):
                grouped.setdefault(activity.thread_id, set()).add(activity.internet_message_id)
            return grouped

    def mailbox_health(self) -> list[mailboxes.Health]:
        assert self.engine is not None
        with Session(self.engine) as session:
            return mailboxes.all_health(session)

    def attachments(self) -> int:
        assert self.engine is not None
        with Session(self.engine) as session:
            return len(session.exec(select(Attachment)).all())

    def settle(self, expected: set[str], timeout: float) -> float:
        """Seconds until every expected message is logged and every mailbox reports synced."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            health = self.mailbox_health()
            if set(self.logged_ids()) >= expected and all(h.status == "synced" for h in health):
                return time.monotonic() - start
            time.sleep(1)
        return -1.0
