"""The live half of `make demo`: Outlook and Gmail users connect through consent, and their mail is
read through Microsoft Graph and the Gmail API (both emulated on loopback) and logged by the core.

Everything here is real product code: the consent flows (msal, google-auth-oauthlib), the Graph
subscription handshake and Pub/Sub push with its OIDC token, the webhook intake, the worker, delta
and history sync, and the routing core. Only the mail servers are emulators.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from rich.console import Console
from sqlmodel import select

from connector.db import transaction
from connector.models import Tenant
from connector.services import users
from emulators.world import Plan, World, build

PEOPLE = (("alice@acme-law.com", "Alice Archer", "graph"), ("bob@acme-law.com", "Bob Baker", "graph"),
          ("grace@acme-law.com", "Grace Green", "gmail"))


@contextmanager
def live_world(database_url: str, consent: str = "approve", port: int | None = None) -> Iterator[World]:
    """The world (emulators, web app with webhooks and console) on the demo database, and one worker thread:
    one process is enough for a demo, and `make serve` keeps it all running."""
    with build(Plan(database_url, people=PEOPLE, consent=consent, port=port)) as world:
        stop = threading.Event()
        worker = world.assembly.worker(owner="demo-worker")
        thread = threading.Thread(target=worker.run_forever, args=(stop,),
                                  kwargs={"idle_seconds": 0.2, "schedule_every": 1.0}, name="worker", daemon=True)
        thread.start()
        try:
            yield world
        finally:
            stop.set()
            thread.join(timeout=10)


def connect_everyone(world: World, console: Console) -> None:
    with transaction(world.engine) as session:
        if not session.exec(select(users.User).where(users.User.email == "grace@acme-law.com")).first():
            tenant = users.get_user(session, "alice@acme-law.com").tenant_id
            grace = users.create_user(session, session.get(Tenant, tenant), "grace@acme-law.com", "Grace Green")
            users.set_capture(session, grace, True)
    for address, _, provider in PEOPLE:
        world.connect(address, provider)
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
