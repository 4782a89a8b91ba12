"""The consent screen: ``/o/oauth2/auth`` (and ``/o/oauth2/v2/auth``).

A control knob approves, denies or shows a page (``interactive``, `consent_page.py`): an account
chooser with the ``login_hint`` account selected, what the app asks for in plain words, Allow and
Cancel — labelled as the emulator's, never to be taken for Google's. Approval redirects to the
client's ``redirect_uri`` with ``code``, ``state`` and ``scope``; denial with ``error=access_denied``.
An unknown client or an unregistered redirect URI gets Google's error page instead of a redirect.
The code remembers the PKCE challenge for the ``/token`` exchange.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode

from .consent_page import consent_page, error_page
from .oauth import AuthCode, OAuthServer
from .state import Mailbox
from .wire import ApiRequest, ApiResponse


@dataclass
class ConsentSettings:
    mode: str = "approve"  # approve | deny | interactive
    user: str | None = None  # who consents (default: login_hint, else the first user)
    scopes: list[str] | None = None  # grant only these (granular consent); None = all requested
    pending: dict[str, dict[str, str]] = field(default_factory=dict)


class ConsentScreen:
    def __init__(self, oauth: OAuthServer, accounts: Callable[[], list[Mailbox]] = list) -> None:
        self._oauth = oauth
        self._accounts = accounts  # who can sign in: the account chooser
        self._lock = threading.Lock()
        self.settings = ConsentSettings()

    def authorize(self, req: ApiRequest) -> ApiResponse:
        params = dict(req.query)
        client = self._oauth.clients.get(params.get("client_id", ""))
        if client is None:
            return _page(401, "Error 401: invalid_client", "The OAuth client was not found.")
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in client.redirect_uris:
            return _page(400, "Error 400: redirect_uri_mismatch", f"redirect_uri={redirect_uri}")
        if params.get("response_type", "code") != "code":
            return _redirect(redirect_uri, {"error": "unsupported_response_type", "state": params.get("state")})
        if not params.get("scope"):
            return _page(400, "Error 400: invalid_request", "Missing required parameter: scope")
        user = self.settings.user or self._hinted_user(params.get("login_hint")) or self._oauth.first_user()
        if user is None:
            return _page(400, "Error 400: invalid_request", "No account can sign in (add a user).")
        if self.settings.mode == "deny":
            return _redirect(redirect_uri, {"error": "access_denied", "state": params.get("state")})
        if self.settings.mode == "interactive":
            return self._consent_page(params, user)
        return self._approve(params, user)

    def _hinted_user(self, hint: str | None) -> str | None:
        return hint.lower() if hint and self._oauth.find_user(hint) else None

    def _approve(self, params: dict[str, str], user: str) -> ApiResponse:
        requested = params["scope"].split()
        granted = [s for s in requested if self.settings.scopes is None or s in self.settings.scopes]
        code = AuthCode(
            code="4/0" + secrets.token_urlsafe(48),
            client_id=params["client_id"],
            redirect_uri=params["redirect_uri"],
            user=user,
            scopes=tuple(granted),
            challenge=params.get("code_challenge"),
            method=params.get("code_challenge_method", "plain"),
            expires_at=self._oauth.clock.now() + 600,
            offline=params.get("access_type") == "offline",
            force_consent="consent" in params.get("prompt", "").split(),
            nonce=params.get("nonce"),
        )
        self._oauth.add_code(code)
        query = {"state": params.get("state"), "code": code.code, "scope": " ".join(granted)}
        query.update({"authuser": "0", "prompt": "consent"})
        return _redirect(params["redirect_uri"], query)

    def _consent_page(self, params: dict[str, str], user: str) -> ApiResponse:
        ticket = secrets.token_urlsafe(16)
        with self._lock:
            self.settings.pending[ticket] = {**params, "_user": user}
        accounts = [(m.address, m.display_name) for m in self._accounts()] or [(user, "")]
        body = consent_page(ticket, params["client_id"], accounts, user, params["scope"].split())
        return ApiResponse(200, body.encode(), {"Content-Type": "text/html; charset=utf-8"})

    def submit(self, req: ApiRequest) -> ApiResponse:
        form = dict(parse_qsl(req.body.decode()))
        with self._lock:
            params = self.settings.pending.pop(form.get("ticket", ""), None)
        if params is None:
            return _page(400, "Error 400: invalid_request", "Unknown or used consent ticket.")
        user = params.pop("_user")
        chosen = form.get("account")
        if chosen and self._oauth.find_user(chosen) is not None:  # the account picked in the chooser
            user = chosen.lower()
        if form.get("decision") != "allow":
            return _redirect(params["redirect_uri"], {"error": "access_denied", "state": params.get("state")})
        return self._approve(params, user)


def _redirect(uri: str, params: dict[str, str | None]) -> ApiResponse:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    sep = "&" if "?" in uri else "?"
    return ApiResponse(302, b"", {"Location": f"{uri}{sep}{query}"})


def _page(status: int, title: str, detail: str) -> ApiResponse:
    return ApiResponse(status, error_page(title, detail).encode(), {"Content-Type": "text/html; charset=utf-8"})
