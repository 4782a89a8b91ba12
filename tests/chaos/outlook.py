"""A user's own Outlook against the Graph emulator: its own app registration, her delegated token through msal's
auth-code flow (signing in with her UPN where that is not her address), then plain Graph calls on ``/me``.

What it does is what Outlook does in a mailbox the connector also reads: save a draft, make a folder under
another, and create Inbox rules (https://learn.microsoft.com/en-us/graph/api/mailfolder-post-messagerules:
MailboxSettings.ReadWrite).
"""

from __future__ import annotations

from typing import Any

import httpx
import msal
import requests

from emulators.graph import GraphEmulator
from emulators.graph.browser import redirect_parameters

# A public client in real life; the emulator issues codes to registered apps only, so Outlook is registered too.
APP = ("d3590ed6-0000-4000-8000-00000000c11e", "outlook-desktop-emulated")
REDIRECT = "https://login.microsoftonline.com/common/oauth2/nativeclient"  # never contacted: the answer is read
SCOPES = ["Mail.ReadWrite", "MailboxSettings.ReadWrite"]


def register(graph: GraphEmulator) -> None:
    graph.register_app(*APP, redirect_uris=[REDIRECT], display_name="Outlook")


class Outlook:
    """One user's Outlook (`register` it first), signed in as ``sign_in`` (her UPN or her address) in ``tenant``."""

    def __init__(self, graph: GraphEmulator, tenant: str, sign_in: str) -> None:
        assert graph.urls is not None
        self.base = f"{graph.urls.graph_url}/me"
        browser = requests.Session()
        browser.verify, browser.trust_env = graph.urls.ca_path, False
        app = msal.ConfidentialClientApplication(APP[0], client_credential=APP[1], http_client=browser,
                                                 authority=graph.urls.authority(tenant), instance_discovery=False)
        flow = app.initiate_auth_code_flow(SCOPES, redirect_uri=REDIRECT, login_hint=sign_in, response_mode="form_post")
        answer = browser.get(flow["auth_uri"], allow_redirects=False)
        token = app.acquire_token_by_auth_code_flow(flow, redirect_parameters(answer.status_code, answer.headers,
                                                                              answer.text)[1])
        assert "access_token" in token, token
        self.http = httpx.Client(headers={"Authorization": f"Bearer {token['access_token']}"}, trust_env=False)

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        reply = self.http.post(self.base + path, json=body)
        reply.raise_for_status()
        return dict(reply.json())

    def folder(self, *path: str) -> str:
        """Make a folder path under the mailbox's root (``"Clients", "Key clients"``); the last one's id."""
        folder_id = self.post("/mailFolders", {"displayName": path[0]})["id"]
        for name in path[1:]:
            folder_id = self.post(f"/mailFolders/{folder_id}/childFolders", {"displayName": name})["id"]
        return str(folder_id)

    def rule(self, name: str, sequence: int, senders: list[str], actions: dict[str, Any]) -> None:
        """An Inbox rule on mail whose From contains one of ``senders``."""
        self.post("/mailFolders/inbox/messageRules", {"displayName": name, "sequence": sequence, "isEnabled": True,
                                                      "conditions": {"senderContains": senders}, "actions": actions})
