"""Fixtures: a Gmail emulator per test on a free loopback port, real Google clients pointed at it,
and a tiny push receiver standing in for the connector's Pub/Sub endpoint."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build

from connector.config import Settings, load_settings
from connector.ports import MailboxRef
from emulators.gmail import GmailEmulator, GmailUrls
from emulators.gmail.oauth import DEFAULT_PROJECT
from emulators.postoffice import PostOffice
from emulators.world import Apps, gmail_section
from providers.gmail.auth import Connected, Consent

ANN = "ann@firm.example"  # a Workspace user (domain firm.example)
BOB = "bob@gmail.com"  # a consumer Gmail user
DROPBOX = "acme+10802@bcc.example.com"
MAIL_SCOPE = "https://mail.google.com/"
READONLY = "https://www.googleapis.com/auth/gmail.readonly"
METADATA = "https://www.googleapis.com/auth/gmail.metadata"


@pytest.fixture(autouse=True)
def _insecure_loopback_oauth(monkeypatch: pytest.MonkeyPatch) -> None:
    # oauthlib refuses plain-http token URIs unless told; tests only, loopback only.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.fixture
def post_office() -> PostOffice:
    return PostOffice()


@pytest.fixture
def emulator(post_office: PostOffice) -> Iterator[GmailEmulator]:
    emu = GmailEmulator(post_office, seed=7)
    emu.start()
    emu.add_user(ANN, "Ann Archer")
    emu.add_user(BOB, "Bob Baker")
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def urls(emulator: GmailEmulator) -> GmailUrls:
    assert emulator.urls is not None
    return emulator.urls


def gmail(urls: GmailUrls, credentials: Any) -> Any:
    """The real googleapiclient, shipped discovery document, base URL moved to the emulator."""
    return build("gmail", "v1", credentials=credentials, client_options={"api_endpoint": urls.api_endpoint},
                 static_discovery=True)


@pytest.fixture
def service_for(emulator: GmailEmulator, urls: GmailUrls):
    def make(user: str, scopes: tuple[str, ...] = (MAIL_SCOPE,)) -> Any:
        return gmail(urls, Credentials(emulator.issue_access_token(user, list(scopes))))

    return make


def raw_message(sender: str, to: str, subject: str, body: str = "Hello", *, bcc: str | None = None,
                in_reply_to: str | None = None, references: str | None = None,
                attachment: tuple[str, bytes] | None = None) -> str:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    if bcc:
        msg["Bcc"] = bcc
    msg["Subject"] = subject
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    msg.set_content(body)
    if attachment:
        msg.add_attachment(attachment[1], maintype="application", subtype="octet-stream", filename=attachment[0])
    return base64.urlsafe_b64encode(msg.as_bytes()).decode()


@dataclass
class Push:
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def data(self) -> dict[str, Any]:
        return json.loads(base64.b64decode(self.body["message"]["data"]))

    @property
    def bearer(self) -> str:
        return self.headers["authorization"].split(" ", 1)[1]


class PushReceiver:
    """Records every POST; answers with queued statuses, then 204."""

    def __init__(self) -> None:
        self.pushes: list[Push] = []
        self.statuses: deque[int] = deque()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                with receiver._lock:
                    receiver.pushes.append(Push({k.lower(): v for k, v in self.headers.items()}, body))
                    status = receiver.statuses.popleft() if receiver.statuses else 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/webhooks/gmail"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Push]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.pushes) >= count:
                    return list(self.pushes)
            time.sleep(0.02)
        with self._lock:
            return list(self.pushes)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[PushReceiver]:
    rec = PushReceiver()
    try:
        yield rec
    finally:
        rec.close()


# -- the connector's side: settings pointing at the emulator, and a real consent ------------------
CLIENT_ID = "1234-connector.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-connector-secret"
REDIRECT = "http://127.0.0.1:9/oauth/gmail/callback"  # never contacted: tests read the Location header
PROJECT = DEFAULT_PROJECT  # the Cloud project of the connector's OAuth client (and of service_for's tokens)
TOPIC = f"projects/{PROJECT}/topics/gmail"
PUSH_SA = "gmail-push@bcc-capture.iam.gserviceaccount.com"


@pytest.fixture
def connector_settings(emulator: GmailEmulator, urls: GmailUrls) -> Settings:
    """The settings emulators/world.py points the connector with, for this Gmail emulator alone."""
    emulator.register_oauth_client(CLIENT_ID, CLIENT_SECRET, [REDIRECT], project_id=PROJECT)
    apps = Apps(gmail=(CLIENT_ID, CLIENT_SECRET), topic=TOPIC, project=PROJECT, push_service_account=PUSH_SA)
    return load_settings(gmail=gmail_section(urls, apps))


def consent_callback(settings: Settings, address: str) -> tuple[dict[str, str], dict[str, str]]:
    """Start a consent, follow Google's redirect like the browser would: (flow state, callback query)."""
    url, flow_state = Consent(settings.gmail).begin(REDIRECT, login_hint=address)
    response = httpx.get(url, follow_redirects=False)
    assert response.status_code == 302, response.text
    return flow_state, dict(parse_qsl(urlsplit(response.headers["location"]).query))


def connect(settings: Settings, address: str) -> Connected:
    flow_state, params = consent_callback(settings, address)
    return Consent(settings.gmail).finish(flow_state, params)


def mailbox_ref(connected: Connected, mailbox_id: int = 1) -> MailboxRef:
    return MailboxRef(mailbox_id, connected.address, connected.provider_user_id, connected.credentials)


def send(service: Any, sender: str, to: str, subject: str, body: str = "Hello", **headers: str) -> tuple[str, str]:
    """Send through googleapiclient's messages.send; return (Gmail id, Message-ID)."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    raw = base64.urlsafe_b64encode(msg.as_bytes()).decode()
    sent = service.users().messages().send(userId="me", body={"raw": raw}).execute()
    return sent["id"], str(msg["Message-ID"])


@pytest.fixture
def office(engine: Any, emulator: GmailEmulator, urls: GmailUrls, post_office: PostOffice,
           connector_settings: Settings, receiver: PushReceiver) -> Iterator[Any]:
    """Alice's Gmail, connected and watched, for the story tests (`office.Office`)."""
    from .office import open_office  # office.py builds on this module

    with open_office(engine, emulator, urls, post_office, connector_settings, receiver) as found:
        yield found
