"""Sign-in to the console with Google (google-auth-oauthlib): OpenID Connect, authorization code + PKCE.

The id_token comes straight from the token endpoint over TLS, so its signature need not be checked
(OpenID Connect Core 3.1.3.7); its claims are: issuer, audience and ``email_verified``.
"""

from __future__ import annotations

import hmac
from typing import Any

import requests
from google.auth import jwt
from google_auth_oauthlib.flow import Flow
from oauthlib.oauth2.rfc6749.errors import OAuth2Error

from connector.config import GmailSettings
from connector.errors import SignInFailed, declined

# The long form of "email": Google answers with it, and oauthlib rejects a changed scope set.
GOOGLE_SCOPES = ["openid", "https://www.googleapis.com/auth/userinfo.email"]
GOOGLE_ISSUERS = ("accounts.google.com", "https://accounts.google.com")


class GoogleSignIn:
    name, label = "google", "Google"

    def __init__(self, settings: GmailSettings) -> None:
        self.settings = settings

    def _flow(self, redirect_uri: str, **kw: Any) -> Flow:
        config = {"web": {"client_id": self.settings.client_id, "client_secret": self.settings.client_secret or "",
                          "auth_uri": self.settings.auth_uri, "token_uri": self.settings.token_uri,
                          "redirect_uris": [redirect_uri]}}
        return Flow.from_client_config(config, scopes=GOOGLE_SCOPES, redirect_uri=redirect_uri, **kw)

    def begin(self, redirect_uri: str, login_hint: str | None = None) -> tuple[str, dict[str, Any]]:
        flow = self._flow(redirect_uri)
        # With a known address Google preselects that account in its chooser
        # (https://developers.google.com/identity/openid-connect/openid-connect#login-hint).
        hint = {"login_hint": login_hint} if login_hint else {}
        url, state = flow.authorization_url(prompt="select_account", **hint)
        return url, {"state": state, "verifier": flow.code_verifier, "redirect_uri": redirect_uri}

    def finish(self, state: dict[str, Any], params: dict[str, str]) -> str:
        if params.get("error"):
            raise SignInFailed(declined("Google", params))
        if not hmac.compare_digest(params.get("state", ""), str(state.get("state", ""))) or not params.get("code"):
            raise SignInFailed("The answer from Google does not belong to this sign-in. Please start again.")
        flow = self._flow(state["redirect_uri"], state=state["state"], code_verifier=state["verifier"])
        try:
            flow.fetch_token(code=params["code"])
            claims = jwt.decode(flow.oauth2session.token.get("id_token") or "", verify=False)
        except (OAuth2Error, ValueError, requests.RequestException) as exc:
            raise SignInFailed(f"Google did not sign you in: {exc}") from exc
        if claims.get("iss") not in GOOGLE_ISSUERS or claims.get("aud") != self.settings.client_id:
            raise SignInFailed("Google's answer was not meant for this site. Please start again.")
        if claims.get("email_verified") not in (True, "true"):
            raise SignInFailed("Google has not verified this e-mail address.")
        return str(claims.get("email", "")).lower()
