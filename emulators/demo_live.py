"""The live half of `make demo`: Outlook and Gmail users connect through consent, and their mail is
read through Microsoft Graph and the Gmail API (both emulated on loopback) and logged by the core.

Everything here is real product code: the consent flows (msal, google-auth-oauthlib), the Graph
subscription handshake and Pub/Sub push with its OIDC token, the webhook intake, the worker, delta
and history sync, and the routing core. Only the mail servers are emulators.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from rich.console import Console
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from connector.app.assembly import Assembly, assemble
from connector.db import transaction
from connector.models import Activity
from connector.services import mailboxes, users
from connector.web.server import free_port, serving
from emulators.world import Sandbox, running

PEOPLE = (("alice@acme-law.com", "Alice Archer", "graph"), ("bob@acme-law.com", "Bob Baker", "graph"),
          ("grace@acme-law.com", "Grace Green", "gmail"))


@dataclass
class Live:
    sandbox: Sandbox
    assembly: Assembly
    url: str


@contextmanager
def live_world(database_url: str, consent: str = "approve", port: int | None = None) -> Iterator[Live]:
    """Emulators, the web app (webhooks + console) and one worker thread, on the demo database."""
    port = port or free_port()
    public = f"http://127.0.0.1:{port}"
    redirects = [f"{public}/oauth/graph/callback", f"{public}/oauth/gmail/callback",
                 f"{public}/signin/microsoft/callback", f"{public}/signin/google/callback",
                 f"{public}/admin/access/callback"]
    with running(redirects, consent=consent) as sandbox:
        for address, name, provider in PEOPLE:
            sandbox.add_user(address, name, provider)
        sandbox.push_to(public)
        assembly = assemble(sandbox.settings(public, database={"url": database_url}))
        stop = threading.Event()
        worker = assembly.worker(owner="demo-worker")
        thread = threading.Thread(target=worker.run_forever, args=(stop,), kwargs={"idle_seconds": 0.2,
                                                                                   "schedule_every": 1.0},
                                  name="worker", daemon=True)
        with serving(assembly.app_context(), port):
            thread.start()
            try:
                yield Live(sandbox, assembly, public)
            finally:
                stop.set()
                thread.join(timeout=10)


def connect_everyone(live: Live, console: Console) -> None:
    with transaction(live.assembly.engine) as session:
        if not session.exec(select(users.User).where(users.User.email == "grace@acme-law.com")).first():
            tenant = users.get_user(session, "alice@acme-law.com").tenant_id
            from connector.models import Tenant

            grace = users.create_user(session, session.get(Tenant, tenant), "grace@acme-law.com", "Grace Green")
            users.set_capture(session, grace, True)
    for address, _, provider in PEOPLE:
        flow = live.assembly.consent_flows[provider]
        connected = live.sandbox.consent(flow, f"{live.url}/oauth/{provider}/callback", address)
        with transaction(live.assembly.engine) as session:
            mailboxes.connect(session, users.get_user(session, address), provider, connected.credentials,
                              live.assembly.cipher, provider_user_id=connected.provider_user_id)
        label = "Outlook (Microsoft Graph)" if provider == "graph" else "Gmail (Gmail API)"
        console.print(f"  ✓ {address} connected {label} through the consent screen")


def message(sender: str, to: list[str], subject: str, body: str, *, bcc: list[str] | None = None,
            reply_to: str | None = None, references: list[str] | None = None) -> tuple[str, bytes]:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, ", ".join(to), subject
    if bcc:
        msg["Bcc"] = ", ".join(bcc)
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].rstrip(">"))
    if reply_to:
        msg["In-Reply-To"], msg["References"] = reply_to, " ".join(references or [reply_to])
    msg.set_content(body)
    return str(msg["Message-ID"]), msg.as_bytes()


def wait_for(engine: Engine, ids: set[str], timeout: float = 60) -> float:
    """Seconds until every message in ``ids`` is logged and every mailbox has caught up (-1: timeout)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        with Session(engine) as session:
            found = set(session.exec(select(Activity.internet_message_id).where(
                col(Activity.internet_message_id).in_(sorted(ids)))))
            idle = all(h.status == "synced" for h in mailboxes.all_health(session))
        if found >= ids and idle:
            return time.monotonic() - start
        time.sleep(0.2)
    return -1.0
