"""Who the connector reads Gmail as: a user's own consent, or Workspace domain-wide delegation.

Per-user consent is the authorization-code flow with PKCE (google-auth-oauthlib):

    url, flow_state = Consent(settings.gmail).begin(redirect_uri, login_hint="ann@firm.example")
    # keep flow_state server-side (it holds the PKCE verifier), send the browser to url …
    connected = Consent(settings.gmail).finish(flow_state, callback_query_params)
    mailboxes.connect(session, user, "gmail", connected.credentials_json, cipher,
                      address=connected.address, provider_user_id=connected.provider_user_id)

The stored credentials are google ``Credentials.to_json()`` without the client secret, which stays
in settings (so rotating it does not strand every mailbox); google-auth refreshes the access
token. App-only mailboxes use ``settings.gmail.service_account_file`` ``.with_subject(address)``.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping

import google.auth.credentials
import requests
from google.auth import jwt
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account
from google_auth_oauthlib.flow import Flow
from oauthlib.oauth2.rfc6749.errors import OAuth2Error

from connector.config import GmailSettings
from connector.errors import GrantRevoked, InputError, PermanentError, TransientError
from connector.ports import Connected, MailboxRef

READONLY = "https://www.googleapis.com/auth/gmail.readonly"
# "email" spelled out: Google answers with the long form, and oauthlib raises "Scope has changed"
# when the granted set differs from the requested one.
SCOPES = ("openid", "https://www.googleapis.com/auth/userinfo.email", READONLY)
ISSUERS = ("accounts.google.com", "https://accounts.google.com")


class ConsentDenied(InputError):
    """The user clicked Cancel on Google's consent screen."""


class StateMismatch(InputError):
    """The callback's ``state`` is not the one this sign-in started with (forged or stale)."""


class ScopeNotGranted(InputError):
    """The user unticked Gmail read access on the consent screen."""


class ConsentFailed(InputError):
    """Google refused the exchange (code expired or reused, client misconfigured, …)."""


class Consent:
    def __init__(self, settings: GmailSettings) -> None:
        self.settings = settings

    def _flow(self, redirect_uri: str, **kwargs: str) -> Flow:
        config = {"web": {"client_id": self.settings.client_id, "client_secret": self.settings.client_secret or "",
                          "auth_uri": self.settings.auth_uri, "token_uri": self.settings.token_uri,
                          "redirect_uris": [redirect_uri]}}
        return Flow.from_client_config(config, scopes=list(SCOPES), redirect_uri=redirect_uri, **kwargs)

    def begin(self, redirect_uri: str, login_hint: str | None = None) -> tuple[str, dict[str, str]]:
        """The URL to send the browser to, and the flow state to keep server-side until the callback."""
        flow = self._flow(redirect_uri)
        extra = {"login_hint": login_hint} if login_hint else {}
        # offline + prompt=consent: Google issues a refresh token only then (a reconnect needs one too).
        url, state = flow.authorization_url(access_type="offline", prompt="consent", **extra)
        return url, {"state": state, "code_verifier": flow.code_verifier or "", "redirect_uri": redirect_uri}

    def finish(self, flow_state: Mapping[str, str], callback_params: Mapping[str, str]) -> Connected:
        """Check the callback, exchange the code (PKCE) and learn the address from the ID token."""
        expected = flow_state.get("state", "")
        received = str(callback_params.get("state", "")).encode()
        if not expected or not hmac.compare_digest(received, expected.encode()):
            raise StateMismatch("the sign-in does not match this session; start connecting Gmail again")
        error = callback_params.get("error")
        if error == "access_denied":
            raise ConsentDenied("Gmail access was not granted")
        if error or not callback_params.get("code"):
            raise ConsentFailed(f"Google did not authorize the connection: {error or 'no code'}")
        flow = self._flow(flow_state.get("redirect_uri", ""), state=expected,
                          code_verifier=flow_state.get("code_verifier", ""))
        try:
            flow.fetch_token(code=callback_params["code"])
        except OAuth2Error as exc:
            raise ConsentFailed(f"Google refused the sign-in: {exc.error}") from exc
        except requests.RequestException as exc:
            raise TransientError(f"Google's token endpoint did not answer: {exc}", endpoint="oauth2.token") from exc
        except Warning as exc:  # oauthlib: the granted scopes differ from the requested ones
            if READONLY not in getattr(exc, "new_scope", ()):
                raise ScopeNotGranted("Gmail read access was not granted; connect again and allow it") from exc
            raise ConsentFailed(f"Google granted unexpected scopes: {exc}") from exc
        credentials = flow.credentials
        if not credentials.refresh_token:
            raise ConsentFailed("Google sent no refresh token; remove bcc-capture's access in your Google "
                                "account and connect again")
        claims = _id_claims(credentials.id_token, self.settings.client_id)
        return Connected(address=str(claims["email"]).lower(),
                         credentials=credentials.to_json(strip=["client_secret"]),
                         provider_user_id=str(claims["sub"]),  # Google's stable account id
                         display_name=str(claims.get("name") or ""))


def _id_claims(id_token: str | None, client_id: str) -> dict[str, object]:
    # The ID token came straight from Google's token endpoint over TLS, so its signature need not
    # be checked (OpenID Connect Core 3.1.3.7); issuer, audience and the address still are.
    if not id_token:
        raise ConsentFailed("Google sent no ID token (the openid scope is missing)")
    try:
        claims = jwt.decode(id_token, verify=False)
    except ValueError as exc:
        raise ConsentFailed("Google sent an unreadable ID token") from exc
    if claims.get("iss") not in ISSUERS or claims.get("aud") != client_id:
        raise ConsentFailed("the ID token was not issued to this client")
    if not claims.get("email") or claims.get("email_verified") not in (True, "true"):
        raise ConsentFailed("Google did not share a verified address")
    return claims


def mailbox_credentials(settings: GmailSettings, mailbox: MailboxRef) -> google.auth.credentials.Credentials:
    """Credentials for one mailbox: delegated service account (app-only) or the user's own grant."""
    if mailbox.app_only:
        if not settings.service_account_file:
            raise PermanentError("gmail.service_account_file is not set: domain-wide delegation is off")
        try:
            base = service_account.Credentials.from_service_account_file(settings.service_account_file,
                                                                         scopes=[READONLY])
        except (OSError, ValueError) as exc:
            raise PermanentError(f"gmail.service_account_file is unusable: {exc}") from exc
        return base.with_subject(mailbox.address)
    try:
        info = json.loads(mailbox.credentials)
        # Client id, secret and token endpoint come from settings: they may have changed since consent.
        info.update(client_id=settings.client_id, client_secret=settings.client_secret or "")
        stored = user_credentials.Credentials.from_authorized_user_info(info)
        return stored.with_token_uri(settings.token_uri)  # from_authorized_user_info pins Google's
    except (ValueError, KeyError, TypeError) as exc:  # only a new consent can fix this
        raise GrantRevoked(f"stored Gmail credentials are unusable: {exc}") from exc
