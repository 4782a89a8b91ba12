"""Who is asking: the signed session cookie, CSRF tokens, the signed-in user, flash messages.

The session cookie (Starlette's SessionMiddleware, signed with a key derived from the secret key)
holds only the user id and their session epoch, the CSRF token, flashes and in-flight OAuth state —
the latter encrypted, because it carries PKCE verifiers. Every request re-reads the user
(`deps.current_viewer`) and compares the epoch, so signing out, a role change or a deactivation ends
every copy of the cookie at once, not when it expires.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request

from connector.config import Settings
from connector.crypto import TokenCipher, secret_key
from connector.errors import ConfigError
from connector.models import Tenant, User
from connector.web.context import app_context

SESSION_COOKIE = "bcc_console"
SESSION_MAX_AGE = 12 * 3600


class SignInRequired(Exception):
    """Raised by `deps.current_viewer` for anonymous requests; the app answers with a redirect to /signin."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


@dataclass(frozen=True)
class Viewer:
    """Who is signed in to the console, with their company and whether they administer it."""

    user: User
    tenant: Tenant
    admin: bool


def session_secret(settings: Settings) -> str:
    """A key of its own for cookies (never the token-encryption key itself)."""
    return hmac.new(secret_key(settings), b"console-session-cookie", hashlib.sha256).hexdigest()


def cipher(request: Request) -> TokenCipher:
    return TokenCipher.from_settings(app_context(request).settings)


# ----------------------------------------------------------------------------------------- CSRF
def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return str(token)


async def csrf_guard(request: Request) -> None:
    """Every console POST carries the session's token in a hidden `csrf` field; else 403."""
    if request.method != "POST":
        return
    expected = request.session.get("csrf")
    sent = (await request.form()).get("csrf")
    if not expected or not isinstance(sent, str) or not hmac.compare_digest(sent, str(expected)):
        raise HTTPException(403, "This form has expired or did not come from this site. Reload the page and try again.")


# -------------------------------------------------------------------------------------- sign-in
def sign_in(request: Request, user: User) -> None:
    request.session.clear()  # a fresh session: nothing from before sign-in carries over
    request.session["uid"] = user.id
    request.session["epoch"] = user.session_epoch  # checked on every request: see users.end_sessions
    request.session["csrf"] = secrets.token_urlsafe(32)


def safe_next(value: object) -> str:
    """Only paths on this site (no //host or scheme): no open redirects after sign-in."""
    if isinstance(value, str) and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/records"


# --------------------------------------------------------------------------- encrypted session data
def put_secret(request: Request, key: str, value: dict[str, Any]) -> None:
    request.session[key] = cipher(request).encrypt(json.dumps(value))


def pop_secret(request: Request, key: str) -> dict[str, Any] | None:
    sealed = request.session.pop(key, None)
    if not isinstance(sealed, str):
        return None
    try:
        value = json.loads(cipher(request).decrypt(sealed))
    except (ConfigError, ValueError):
        return None
    return value if isinstance(value, dict) else None


# ------------------------------------------------------------------------------------------ flash
def flash(request: Request, text: str, kind: str = "ok") -> None:
    request.session.setdefault("flash", []).append({"kind": kind, "text": text})


def pop_flashes(request: Request) -> list[dict[str, str]]:
    return list(request.session.pop("flash", []))


def external_url(request: Request, path: str) -> str:
    base = app_context(request).public_url or str(request.base_url)
    return base.rstrip("/") + path
