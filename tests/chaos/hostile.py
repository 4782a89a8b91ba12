"""The parts of the chaos workload that go through the mailboxes' own APIs, as a person's mail client would:
Gmail filters that skip the inbox for some clients (settings.filters.create), and drafts with the dropbox
address on them (Graph POST /users/{id}/messages, Gmail drafts.create) that must never be filed.

Plain HTTP against the emulators' public API, with tokens their identity services issue to the user (Gmail)
or to an app with the tenant's admin consent (Graph, Mail.ReadWrite).
"""

from __future__ import annotations

import base64
from email.message import EmailMessage

import httpx

from bench.workload import DROPBOX_DOMAIN, TENANT_SLUG, Person, Workload
from emulators.gmail import GmailEmulator
from emulators.graph import GraphEmulator
from emulators.world import Apps

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


def _draft(user: Person, matter: str, number: int) -> EmailMessage:
    draft = EmailMessage()
    draft["From"], draft["To"] = user.address, f"client{number:03d}@client{number % 40:02d}.example"
    draft["Bcc"] = f"{TENANT_SLUG}+{matter}@{DROPBOX_DOMAIN}"
    draft["Subject"] = f"Draft {number}: not sent yet"
    draft["Message-ID"] = f"<draft{number}@{user.address.split('@')[1]}>"
    draft.set_content("Still writing this one.")
    return draft


def save_drafts(graph: GraphEmulator, gmail: GmailEmulator, workload: Workload, apps: Apps) -> list[str]:
    """Every user saves a draft Bcc'ing a matter; returns their Message-IDs (Gmail) and subjects (both)."""
    assert graph.urls is not None and gmail.urls is not None
    graph.grant_admin_consent(apps.graph_tenant, apps.graph[0])
    app_token = graph.tokens.client_credentials(apps.graph[0], apps.graph_tenant,
                                                ["https://graph.microsoft.com/.default"]).body["access_token"]
    subjects = []
    for number, user in enumerate(workload.users):
        draft = _draft(user, workload.matters[number % len(workload.matters)], number)
        if user.provider == "graph":
            body = {"subject": draft["Subject"], "body": {"contentType": "text", "content": "Still writing."},
                    "toRecipients": [{"emailAddress": {"address": draft["To"]}}],
                    "bccRecipients": [{"emailAddress": {"address": draft["Bcc"]}}]}
            reply = httpx.post(f"{graph.urls.graph_url}/users/{user.address}/messages", json=body,
                               headers={"Authorization": f"Bearer {app_token}"}, trust_env=False)
        else:
            token = gmail.issue_access_token(user.address, GMAIL_SCOPES)
            raw = base64.urlsafe_b64encode(draft.as_bytes()).decode()
            reply = httpx.post(f"{gmail.urls.api_endpoint.rstrip('/')}/gmail/v1/users/me/drafts",
                               json={"message": {"raw": raw}}, headers={"Authorization": f"Bearer {token}"},
                               trust_env=False)
        reply.raise_for_status()
        subjects.append(str(draft["Subject"]))
    return subjects
