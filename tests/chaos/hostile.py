"""The parts of the chaos workload that go through the mailboxes' own APIs, as a person's mail client would:
Gmail filters that skip the inbox for some clients (settings.filters.create), Outlook Inbox rules that move some
clients' mail into "Clients/Key clients" or mark it read (POST /me/mailFolders/inbox/messageRules), drafts with
the dropbox address on them (Graph POST /me/messages, Gmail drafts.create) that must never be filed, and Outlook
users who sign in with a UPN that is not their mailbox address.

Plain HTTP against the emulators' public API, with tokens their identity services issue to the user: Gmail's
directly, Outlook's through msal (tests/chaos/outlook.py).
"""

from __future__ import annotations

import base64
from collections import Counter
from dataclasses import dataclass
from email.message import EmailMessage

import httpx

from bench.workload import DROPBOX_DOMAIN, TENANT_SLUG, Person, Workload
from emulators.gmail import GmailEmulator
from emulators.graph import GraphEmulator
from emulators.world import Apps
from tests.chaos.outlook import Outlook, register

GMAIL_SCOPES = ["https://mail.google.com/", "https://www.googleapis.com/auth/gmail.settings.basic"]


def archive_clients(gmail: GmailEmulator, workload: Workload, domains: tuple[str, ...]) -> int:
    """Each Gmail user's filter: mail from these client domains skips the inbox (neither INBOX nor SENT)."""
    assert gmail.urls is not None
    made = 0
    for user in workload.by_provider("gmail"):
        token = gmail.issue_access_token(user.address, GMAIL_SCOPES)
        for domain in domains:
            reply = httpx.post(f"{gmail.urls.api_endpoint.rstrip('/')}/gmail/v1/users/me/settings/filters",
                               json={"criteria": {"from": domain}, "action": {"removeLabelIds": ["INBOX"]}},
                               headers={"Authorization": f"Bearer {token}"}, trust_env=False)
            reply.raise_for_status()
            made += 1
    return made


def sign_in_names(workload: Workload) -> dict[str, str]:
    """Every fourth Outlook user from the second on signs in as u.NNN@acmelaw.onmicrosoft.com (address → UPN)."""
    return {u.address: f"u.{u.address.split('@')[0].removeprefix('user')}@acmelaw.onmicrosoft.com"
            for u in workload.by_provider("graph")[1::4]}


@dataclass(frozen=True)
class Rules:
    folder: str  # the id of Clients/Key clients
    moved: tuple[str, ...]  # client domains whose mail is moved there
    read: tuple[str, ...]  # … and marked read


def file_by_rules(graph: GraphEmulator, workload: Workload, apps: Apps, upns: dict[str, str]) -> dict[str, Rules]:
    """Every second Outlook user's Inbox rules, made in her Outlook: mail from her two busiest clients is moved into
    Clients/Key clients, mail from the second and third is marked read (the second's is both)."""
    register(graph)
    made = {}
    for user in workload.by_provider("graph")[1::2]:
        clients = _busiest_clients(workload, user.address)
        if not clients:  # no conditions would match every message
            continue
        outlook = Outlook(graph, apps.graph_tenant, upns.get(user.address, user.address))
        rules = Rules(outlook.folder("Clients", "Key clients"), tuple(clients[:2]), tuple(clients[1:3]))
        if rules.read:
            outlook.rule("Read receipts and notices", 1, list(rules.read), {"markAsRead": True})
        outlook.rule("Key clients", 2, list(rules.moved), {"moveToFolder": rules.folder, "stopProcessingRules": True})
        made[user.address] = rules
    return made


def _busiest_clients(workload: Workload, address: str) -> list[str]:
    """The client domains whose mail to ``address`` is filed most often, busiest first (then by name)."""
    expected = workload.expected_logged
    counts = Counter(m.sender.address.split("@")[1] for m in workload.messages
                     if m.sender.provider == "external" and m.message_id in expected
                     and address in {p.address for p in (*m.to, *m.cc)})
    return sorted(counts, key=lambda domain: (-counts[domain], domain))


def _draft(user: Person, matter: str, number: int) -> EmailMessage:
    draft = EmailMessage()
    draft["From"], draft["To"] = user.address, f"client{number:03d}@client{number % 40:02d}.example"
    draft["Bcc"] = f"{TENANT_SLUG}+{matter}@{DROPBOX_DOMAIN}"
    draft["Subject"] = f"Draft {number}: not sent yet"
    draft["Message-ID"] = f"<draft{number}@{user.address.split('@')[1]}>"
    draft.set_content("Still writing this one.")
    return draft


def save_drafts(graph: GraphEmulator, gmail: GmailEmulator, workload: Workload, apps: Apps,
                upns: dict[str, str]) -> list[str]:
    """Every user saves a draft Bcc'ing a matter in her mail client; returns the drafts' subjects."""
    assert gmail.urls is not None
    register(graph)
    subjects = []
    for number, user in enumerate(workload.users):
        draft = _draft(user, workload.matters[number % len(workload.matters)], number)
        if user.provider == "graph":
            body = {"subject": draft["Subject"], "body": {"contentType": "text", "content": "Still writing."},
                    "toRecipients": [{"emailAddress": {"address": draft["To"]}}],
                    "bccRecipients": [{"emailAddress": {"address": draft["Bcc"]}}]}
            Outlook(graph, apps.graph_tenant, upns.get(user.address, user.address)).post("/messages", body)
        else:
            token = gmail.issue_access_token(user.address, GMAIL_SCOPES)
            raw = base64.urlsafe_b64encode(draft.as_bytes()).decode()
            reply = httpx.post(f"{gmail.urls.api_endpoint.rstrip('/')}/gmail/v1/users/me/drafts",
                               json={"message": {"raw": raw}}, headers={"Authorization": f"Bearer {token}"},
                               trust_env=False)
            reply.raise_for_status()
        subjects.append(str(draft["Subject"]))
    return subjects
