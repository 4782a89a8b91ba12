"""The consent screen: ``/o/oauth2/auth`` (and ``/o/oauth2/v2/auth``).

A control knob approves, denies or shows a page with Allow/Cancel buttons (``interactive``).
Approval redirects to the client's ``redirect_uri`` with ``code``, ``state`` and ``scope``; denial
with ``error=access_denied``. An unknown client or an unregistered redirect URI gets Google's error
page instead of a redirect. The code remembers the PKCE challenge for the ``/token`` exchange.
"""

from __future__ import annotations

import html
import secrets
import threading
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode

from .oauth import AuthCode, OAuthServer
from .wire import ApiRequest, ApiResponse


@dataclass
class ConsentSettings:
    mode: str = "approve"  # approve | deny | interactive
    user: str | None = None  # who consents (default: login_hint, else the first user)
    scopes: list[str] | None = None  # grant only these (granular consent); None = all requested
    pending: dict[str, dict[str, str]] = field(default_factory=dict)


class ConsentScreen:
    def __init__(self, oauth: OAuthServer) -> None:
        self._oauth = oauth
        self._lock = threading.Lock()
        self.settings = ConsentSettings()

    def authorize(self, req: ApiRequest) -> ApiResponse:
        params = dict(req.query)
        client = self._oauth.clients.get(params.get("client_id", ""))
        if client is None:
            return _page(401, "Error 401: invalid_client", "The OAuth client was not found.")
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in client.redirect_uris:
            return _page(400, "Error 400: redirect_uri_mismatch", f"redirect_uri={html.escape(redirect_uri)}")
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
        scopes = "".join(f"<li>{html.escape(s)}</li>" for s in params["scope"].split())
        body = (
            "<!doctype html><title>Sign in - Google Accounts</title>"
            f"<h1>{html.escape(params['client_id'])} wants to access your Google Account</h1>"
            f"<p>{html.escape(user)}</p><ul>{scopes}</ul>"
            f'<form method="post" action="/o/oauth2/consent"><input type="hidden" name="ticket" value="{ticket}">'
            '<button name="decision" value="allow" id="submit_approve_access">Allow</button>'
            '<button name="decision" value="deny" id="submit_deny_access">Cancel</button></form>'
        )
        return ApiResponse(200, body.encode(), {"Content-Type": "text/html; charset=utf-8"})

    def submit(self, req: ApiRequest) -> ApiResponse:
        form = dict(parse_qsl(req.body.decode()))
        with self._lock:
            params = self.settings.pending.pop(form.get("ticket", ""), None)
        if params is None:
            return _page(400, "Error 400: invalid_request", "Unknown or used consent ticket.")
        user = params.pop("_user")
        if form.get("decision") != "allow":
            return _redirect(params["redirect_uri"], {"error": "access_denied", "state": params.get("state")})
        return self._approve(params, user)


def _redirect(uri: str, params: dict[str, str | None]) -> ApiResponse:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    sep = "&" if "?" in uri else "?"
    return ApiResponse(302, b"", {"Location": f"{uri}{sep}{query}"})


def _page(status: int, title: str, detail: str) -> ApiResponse:
    body = f"<!doctype html><title>{html.escape(title)}</title><h1>{html.escape(title)}</h1><p>{detail}</p>"
    return ApiResponse(status, body.encode(), {"Content-Type": "text/html; charset=utf-8"})
