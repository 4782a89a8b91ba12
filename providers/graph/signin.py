"""Sign-in to the console with Microsoft (msal): OpenID Connect, authorization code + PKCE.

The id_token comes straight from the token endpoint over TLS, so its signature need not be checked
(OpenID Connect Core 3.1.3.7); msal checks nonce, audience and issuer. The address is the mailbox's own
(``mail`` of ``GET /users/{oid}``): ``preferred_username`` is the sign-in name, in work tenants the UPN,
often not the mail address; it is used only for an account without a mailbox. The optional ``email``
claim is not verified by Microsoft and never used.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import msal
import requests

from connector.config import GraphSettings
from connector.errors import SignInFailed, declined
from providers.graph.auth import client_credential


class MicrosoftSignIn:
    name, label = "microsoft", "Microsoft"

    def __init__(self, settings: GraphSettings) -> None:
        self.settings = settings

    def _app(self) -> msal.ConfidentialClientApplication:
        # A fresh app per sign-in: msal's in-memory token cache must not collect everybody's tokens.
        http = requests.Session()
        if self.settings.ca_bundle:
            http.verify, http.trust_env = self.settings.ca_bundle, False
        return msal.ConfidentialClientApplication(
            self.settings.client_id, client_credential=client_credential(self.settings), http_client=http,
            authority=f"{self.settings.authority_host.rstrip('/')}/{self.settings.tenant}", instance_discovery=False)

    def begin(self, redirect_uri: str) -> tuple[str, dict[str, Any]]:
        flow = self._app().initiate_auth_code_flow(["User.Read"], redirect_uri=redirect_uri,
                                                   prompt="select_account", response_mode="form_post")
        url = flow.pop("auth_uri")  # not needed to finish; keeps the cookie small
        return url, flow

    def finish(self, state: dict[str, Any], params: dict[str, str]) -> str:
        if params.get("error"):
            raise SignInFailed(declined("Microsoft", params))
        try:
            result = self._app().acquire_token_by_auth_code_flow(state, params)
        except ValueError as exc:  # msal: state mismatch
            raise SignInFailed("The answer from Microsoft does not belong to this sign-in. "
                               "Please start again.") from exc
        if "error" in result:
            raise SignInFailed(f"Microsoft did not sign you in: {result.get('error_description') or result['error']}")
        claims = result.get("id_token_claims", {})
        address = (self._mailbox(str(result.get("access_token") or ""), str(claims.get("oid") or ""))
                   or str(claims.get("preferred_username", "")).lower())
        if "@" not in address:
            raise SignInFailed("Microsoft did not tell us your e-mail address.")
        return address

    def _mailbox(self, token: str, oid: str) -> str:
        """The signed-in user's primary SMTP address, or "" when Graph has none for them (or cannot be asked)."""
        if not token or not oid:
            return ""
        http = requests.Session()
        if self.settings.ca_bundle:
            http.verify, http.trust_env = self.settings.ca_bundle, False
        try:
            reply = http.get(f"{self.settings.graph_url.rstrip('/')}/users/{quote(oid)}", timeout=30,
                             params={"$select": "id,mail"}, headers={"Authorization": f"Bearer {token}"})
            user = reply.json() if reply.ok else {}
        except (requests.RequestException, ValueError):
            return ""
        return str(user.get("mail") or "").strip().lower() if user.get("id") == oid else ""
