"""Fixtures: a running Graph emulator with two tenants, the real msal and msgraph-sdk pointed at it,
and a tiny webhook receiver for subscription validation and notifications."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qs, quote, urlparse

import msal
import pytest
import requests
from kiota_abstractions.authentication import (
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient

from emulators.graph import EmulatorUrls, GraphEmulator
from emulators.graph.browser import redirect_parameters
from emulators.graph.state import User

CLIENT_ID = "6731de76-14a6-49ae-97bc-6eba6914391e"
CLIENT_SECRET = "emulator-client-secret"
REDIRECT_URI = "http://localhost:8400/auth/callback"
TENANT = "8d4f1a3e-5b2c-4e6f-9a7b-1c2d3e4f5a6b"
OTHER_TENANT = "0b7c6d5e-4f3a-4b2c-9d1e-0f9e8d7c6b5a"
SCOPES = ["Mail.Read", "Mail.Send"]
T = TypeVar("T")


@dataclass
class Seeded:
    emulator: GraphEmulator
    urls: EmulatorUrls
    alice: User
    bob: User
    carol: User  # another tenant


@pytest.fixture
def seeded() -> Iterator[Seeded]:
    emulator = GraphEmulator(seed=7)
    urls = emulator.start()
    alice = emulator.add_user("alice@contoso.com", "Alice Adams", TENANT)
    bob = emulator.add_user("bob@contoso.com", "Bob Brown", TENANT)
    carol = emulator.add_user("carol@fabrikam.com", "Carol Clark", OTHER_TENANT)
    emulator.register_app(CLIENT_ID, CLIENT_SECRET, [REDIRECT_URI])
    emulator.set_consent("approve")
    try:
        yield Seeded(emulator, urls, alice, bob, carol)
    finally:
        emulator.stop(wait=False)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


# --- msal ------------------------------------------------------------------------------------------
def http_session(urls: EmulatorUrls) -> requests.Session:
    session = requests.Session()
    session.verify = urls.ca_path
    session.trust_env = False  # else REQUESTS_CA_BUNDLE from the environment overrides verify
    return session


def msal_app(
    urls: EmulatorUrls, tenant: str = TENANT, secret: str = CLIENT_SECRET
) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        CLIENT_ID, client_credential=secret, authority=urls.authority(tenant),
        http_client=http_session(urls), instance_discovery=False,
    )


def authorize(urls: EmulatorUrls, flow: dict[str, Any]) -> dict[str, str]:
    """Follow the authorize URL the way a browser would up to the redirect (query or form_post); return what
    the redirect URI receives."""
    reply = http_session(urls).get(flow["auth_uri"], allow_redirects=False)
    target, answer = redirect_parameters(reply.status_code, reply.headers, reply.text)
    assert target == REDIRECT_URI, reply.text
    return answer


def sign_in(seeded: Seeded, user: User, scopes: list[str] | None = None,
            app: msal.ConfidentialClientApplication | None = None) -> dict[str, Any]:
    app = app or msal_app(seeded.urls, user.tenant_id)
    flow = app.initiate_auth_code_flow(scopes or SCOPES, redirect_uri=REDIRECT_URI, login_hint=user.address,
                                       response_mode="form_post")
    result = app.acquire_token_by_auth_code_flow(flow, authorize(seeded.urls, flow))
    assert "access_token" in result, result
    return result


def app_token(seeded: Seeded, tenant: str = TENANT) -> str:
    result = msal_app(seeded.urls, tenant).acquire_token_for_client(["https://graph.microsoft.com/.default"])
    assert "access_token" in result, result
    return str(result["access_token"])


# --- msgraph-sdk -----------------------------------------------------------------------------------
class StaticTokenProvider(AccessTokenProvider):
    def __init__(self, token: str, host: str) -> None:
        self.token = token
        self.validator = AllowedHostsValidator([host])

    async def get_authorization_token(
        self, uri: str, additional_authentication_context: dict[str, Any] | None = None
    ) -> str:
        return self.token if self.validator.is_url_host_valid(uri) else ""

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        return self.validator


def graph_client(urls: EmulatorUrls, token: str) -> GraphServiceClient:
    """Create inside the coroutine that uses it: the httpx client binds to that event loop."""
    auth = BaseBearerTokenAuthenticationProvider(StaticTokenProvider(token, urlparse(urls.graph_url).hostname or ""))
    adapter = GraphRequestAdapter(auth)
    adapter.base_url = urls.graph_url  # before GraphServiceClient, which defaults it to graph.microsoft.com
    return GraphServiceClient(request_adapter=adapter)


# --- a webhook receiver ------------------------------------------------------------------------------
@dataclass
class Receiver:
    url: str = ""
    validation: str = "echo"  # "echo" | "encoded" | "status"
    fail_next: int = 0  # answer 500 to this many change notifications
    delay: float = 0.0  # seconds to wait before answering a change notification
    validations: list[str] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    lifecycle: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, count: int, timeout: float = 5.0, lifecycle: bool = False) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = list(self.lifecycle if lifecycle else self.notifications)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"expected {count} notifications, got {len(found)}")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: bytes = b"", content_type: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            query = parse_qs(urlparse(self.path).query)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if "validationToken" in query:
                token = query["validationToken"][0]  # parse_qs URL-decodes, as Graph requires
                with state.lock:
                    state.validations.append(token)
                if state.validation == "echo":
                    self._answer(200, token.encode())
                elif state.validation == "encoded":
                    self._answer(200, quote(token).encode())
                else:
                    self._answer(500)
                return
            payload = json.loads(body)
            lifecycle = self.path.startswith("/lifecycle")
            if state.delay and not lifecycle:
                time.sleep(state.delay)
            with state.lock:
                failing = state.fail_next > 0 and not lifecycle
                state.fail_next -= int(failing)
                if not failing:
                    target = state.lifecycle if lifecycle else state.notifications
                    target.extend(payload["value"])
            self._answer(500 if failing else 202)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
