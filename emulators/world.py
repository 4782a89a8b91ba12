"""The emulated world: both provider emulators on one post office, and settings pointing at them.

A composition root (like connector/app/assembly.py): the only other place the core meets concrete
providers. Used by the live part of `make demo`, by `make serve` and by `bcc-capture emulate`, so
integrators can try the whole product without a Microsoft or Google account.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from connector.config import Settings, load_settings
from connector.ports import Connected, ConsentFlow
from emulators.gmail import GmailEmulator, GmailUrls
from emulators.gmail.server import PUSH_SERVICE_ACCOUNT
from emulators.graph import EmulatorUrls, GraphEmulator
from emulators.postoffice import PostOffice

GRAPH_TENANT = "5f0c3a1e-ac3e-4a1b-9c7d-0e1f2a3b4c5d"
GRAPH_APP = ("0a1b2c3d-bcc0-4ca0-9e00-000000000001", "sandbox-graph-secret")
GMAIL_APP = ("bcc-capture-sandbox.apps.googleusercontent.com", "sandbox-gmail-secret")
GMAIL_TOPIC = "projects/bcc-capture-sandbox/topics/gmail"


@dataclass
class Sandbox:
    post_office: PostOffice
    graph: GraphEmulator
    gmail: GmailEmulator
    graph_urls: EmulatorUrls
    gmail_urls: GmailUrls
    redirect_uris: list[str] = field(default_factory=list)

    def settings(self, public_url: str, **overrides: Any) -> Settings:
        """Settings for the connector, with the providers' endpoints pointing at the emulators."""
        return load_settings(
            graph={"client_id": GRAPH_APP[0], "client_secret": GRAPH_APP[1], "tenant": GRAPH_TENANT,
                   "authority_host": self.graph_urls.authority_host, "graph_url": self.graph_urls.graph_url,
                   "ca_bundle": self.graph_urls.ca_path},
            gmail={"client_id": GMAIL_APP[0], "client_secret": GMAIL_APP[1], "auth_uri": self.gmail_urls.auth_uri,
                   "token_uri": self.gmail_urls.token_uri, "api_endpoint": self.gmail_urls.api_endpoint,
                   "topic_name": GMAIL_TOPIC, "push_service_account": PUSH_SERVICE_ACCOUNT,
                   "push_certs_url": self.gmail_urls.certs_url},
            **{"sync": {"public_url": public_url}, **overrides})

    def environment(self, public_url: str) -> dict[str, str]:
        """The same, as BCC_CAPTURE_* variables for another process (`bcc-capture worker`, `serve`)."""
        settings = self.settings(public_url)
        env = {"OAUTHLIB_INSECURE_TRANSPORT": "1", "BCC_CAPTURE_SYNC__PUBLIC_URL": public_url}
        for section in ("graph", "gmail"):
            for key, value in getattr(settings, section).model_dump().items():
                if value not in (None, "") and not isinstance(value, bool):
                    env[f"BCC_CAPTURE_{section.upper()}__{key.upper()}"] = str(value)
        return env

    def add_user(self, address: str, name: str, provider: str) -> None:
        if provider == "graph":
            self.graph.add_user(address, name, GRAPH_TENANT)
        else:
            self.gmail.add_user(address, name)

    def push_to(self, public_url: str) -> None:
        """Point the Pub/Sub push subscription at the connector's Gmail webhook."""
        self.gmail.configure_push(GMAIL_TOPIC, f"{public_url.rstrip('/')}/webhooks/gmail",
                                  service_account_email=PUSH_SERVICE_ACCOUNT, min_backoff=1.0, max_backoff=10.0)

    def consent(self, flow: ConsentFlow, redirect_uri: str, address: str) -> Connected:
        """Walk a consent the way a browser would (the emulators approve at once in this mode)."""
        url, state = flow.begin(redirect_uri, login_hint=address)
        with httpx.Client(verify=self.graph_urls.ca_path, trust_env=False) as http:
            location = http.get(url, follow_redirects=False).headers["location"]
        return flow.finish(state, dict(parse_qsl(urlsplit(location).query)))


@contextmanager
def running(redirect_uris: list[str], consent: str = "approve") -> Iterator[Sandbox]:
    """Start both emulators on one post office; ``consent`` "approve" (scripted) or "page" (a person)."""
    os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the emulated Google token endpoint is http
    with ExitStack() as stack:
        office = PostOffice()
        graph, gmail = GraphEmulator(office), GmailEmulator(office)
        graph_urls, gmail_urls = graph.start(), gmail.start()
        stack.callback(graph.stop)
        stack.callback(gmail.stop)
        graph.register_app(GRAPH_APP[0], GRAPH_APP[1], redirect_uris)
        graph.set_consent("page" if consent == "page" else "approve")
        gmail.register_oauth_client(GMAIL_APP[0], GMAIL_APP[1], redirect_uris)
        gmail.set_consent("interactive" if consent == "page" else "approve")
        yield Sandbox(office, graph, gmail, graph_urls, gmail_urls, redirect_uris)


def describe(sandbox: Sandbox) -> list[tuple[str, str]]:
    return [("Microsoft identity", sandbox.graph_urls.authority(GRAPH_TENANT)),
            ("Microsoft Graph", sandbox.graph_urls.graph_url),
            ("emulator test CA", sandbox.graph_urls.ca_path),
            ("Google OAuth", sandbox.gmail_urls.auth_uri),
            ("Gmail API", sandbox.gmail_urls.api_endpoint)]
