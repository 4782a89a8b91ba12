"""Google's OAuth 2.0 / OpenID endpoints, served by the emulator.

* ``/token``: ``authorization_code`` (PKCE S256/plain verified), ``refresh_token`` and the
  service-account ``urn:ietf:params:oauth:grant-type:jwt-bearer`` grant (signature checked against
  the registered public key; ``sub`` impersonates a user only when the Workspace admin authorized
  the client id for every requested scope — domain-wide delegation).
* ``/revoke``, ``/oauth2/v3/userinfo``, ``/tokeninfo``, ID tokens signed by `keys.SigningKey`.

A refresh token is issued only for ``access_type=offline`` and — as at Google — only on the first
consent for that client unless ``prompt=consent``. The consent screen itself is `consent.py`.

Error bodies are Google's: ``{"error": "invalid_grant", "error_description": "..."}``.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt

from emulators.clock import Clock

from .keys import SigningKey
from .state import Mailbox
from .wire import ApiError, ApiRequest, ApiResponse

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ISSUER = "https://accounts.google.com"
REVOKED = "Token has been expired or revoked."
UNAUTHORIZED_CLIENT = (
    "Client is unauthorized to retrieve access tokens using this method, "
    "or client not authorized for any of the scopes requested."
)
BAD_JWT_TIME = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
    "Check your iat and exp values in the JWT claim."
)
INVALID_CREDENTIALS = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
    "or other valid authentication credential. "
    "See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
MISSING_CREDENTIALS = (
    "Request is missing required authentication credential. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential. "
    "See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
OPENID_SCOPES = {"openid", "email", "profile"}


# The Cloud project of a client registered without one, and of the emulator's own control tokens.
DEFAULT_PROJECT = "emulated-project"


@dataclass
class OAuthClient:
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    project_id: str = DEFAULT_PROJECT  # the Cloud project the client belongs to: users.watch topics must be in it


@dataclass
class ServiceAccount:
    email: str
    client_id: str  # the numeric "unique id" an admin authorizes for domain-wide delegation
    public_keys: dict[str, str]  # private_key_id → public key PEM


@dataclass
class Grant:
    """One consent (kind "user"), one impersonation ("delegated") or a service account's own token."""

    id: str
    kind: str
    client_id: str
    subject: str  # the user address, or the service-account email for kind "service_account"
    scopes: tuple[str, ...]
    refresh_token: str | None = None
    revoked: bool = False


@dataclass
class AccessToken:
    value: str
    grant: Grant
    expires_at: float


@dataclass
class AuthCode:
    code: str
    client_id: str
    redirect_uri: str
    user: str
    scopes: tuple[str, ...]
    challenge: str | None
    method: str
    expires_at: float
    offline: bool
    force_consent: bool
    nonce: str | None
    used: bool = False


@dataclass(frozen=True)
class Principal:
    """Who an API call acts for: ``user`` is None for a service account without ``sub``."""

    user: str | None
    scopes: frozenset[str]
    client_id: str
    kind: str
    project: str = DEFAULT_PROJECT  # the Cloud project of the client the token was issued to


def _oauth_error(status: int, error: str, description: str) -> ApiResponse:
    return ApiResponse.json({"error": error, "error_description": description}, status)


def _pkce(verifier: str, method: str) -> str:
    if method == "S256":
        digest = hashlib.sha256(verifier.encode()).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")
    return verifier


class OAuthServer:
    def __init__(
        self,
        clock: Clock,
        keys: SigningKey,
        find_user: Callable[[str], Mailbox | None],
        first_user: Callable[[], str | None],
        token_lifetime: int = 3599,
    ) -> None:
        self._lock = threading.RLock()
        self.clock = clock
        self._keys = keys
        self.find_user = find_user
        self.first_user = first_user
        self.token_lifetime = token_lifetime
        self.base_url = ""
        self.clients: dict[str, OAuthClient] = {}
        self.service_accounts: dict[str, ServiceAccount] = {}
        self.delegation: dict[tuple[str, str], set[str]] = {}  # (domain, client id) → scopes
        self._codes: dict[str, AuthCode] = {}
        self._grants: dict[str, Grant] = {}
        self._refresh: dict[str, Grant] = {}
        self._tokens: dict[str, AccessToken] = {}

    # -- control ----------------------------------------------------------------------------
    def register_client(self, client_id: str, client_secret: str, redirect_uris: list[str],
                        project_id: str = DEFAULT_PROJECT) -> None:
        with self._lock:
            self.clients[client_id] = OAuthClient(client_id, client_secret, list(redirect_uris), project_id)

    def _project_of(self, client_id: str) -> str:
        """The Cloud project of an OAuth client, or of a service account (name@PROJECT.iam.gserviceaccount.com)."""
        client = self.clients.get(client_id)
        if client is not None:
            return client.project_id
        for account in self.service_accounts.values():
            if account.client_id == client_id:
                return account.email.partition("@")[2].split(".")[0] or DEFAULT_PROJECT
        return DEFAULT_PROJECT

    def register_service_account(self, email: str, public_key_pem: str, client_id: str, key_id: str) -> None:
        with self._lock:
            account = self.service_accounts.setdefault(email, ServiceAccount(email, client_id, {}))
            account.client_id = client_id
            account.public_keys[key_id] = public_key_pem

    def authorize_delegation(self, domain: str, client_id: str, scopes: list[str]) -> None:
        with self._lock:
            self.delegation[(domain.lower(), client_id)] = set(scopes)

    def revoke_delegation(self, domain: str, client_id: str) -> None:
        with self._lock:
            self.delegation.pop((domain.lower(), client_id), None)

    def revoke_grants(self, user: str, client_id: str | None = None) -> int:
        with self._lock:
            hits = [
                g
                for g in self._grants.values()
                if g.subject == user.lower() and (client_id is None or g.client_id == client_id)
            ]
            for grant in hits:
                grant.revoked = True
            return len(hits)

    def expire_access_tokens(self, user: str | None = None) -> int:
        with self._lock:
            hits = [t for t in self._tokens.values() if user is None or t.grant.subject == user.lower()]
            for token in hits:
                token.expires_at = 0
            return len(hits)

    def issue_token(self, user: str, scopes: list[str], client_id: str = "emulator-control") -> str:
        """An access token minted without a flow (benchmarks, quick tests)."""
        with self._lock:
            grant = self._new_grant("user", client_id, user.lower(), tuple(scopes), offline=False)
            return self._new_access_token(grant).value

    def add_code(self, code: AuthCode) -> None:
        with self._lock:
            self._codes[code.code] = code

    # -- tokens -----------------------------------------------------------------------------
    def _new_grant(self, kind: str, client_id: str, subject: str, scopes: tuple[str, ...], offline: bool) -> Grant:
        grant = Grant(secrets.token_hex(8), kind, client_id, subject, scopes)
        if offline:
            grant.refresh_token = "1//0" + secrets.token_urlsafe(48)
            self._refresh[grant.refresh_token] = grant
        self._grants[grant.id] = grant
        return grant

    def _new_access_token(self, grant: Grant) -> AccessToken:
        token = AccessToken("ya29." + secrets.token_urlsafe(60), grant, self.clock.now() + self.token_lifetime)
        self._tokens[token.value] = token
        return token

    def _id_token(self, grant: Grant, nonce: str | None = None) -> str:
        mailbox = self.find_user(grant.subject)
        now = int(self.clock.now())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "azp": grant.client_id,
            "aud": grant.client_id,
            "sub": mailbox.sub if mailbox else grant.subject,
            "email": grant.subject,
            "email_verified": True,
            "iat": now,
            "exp": now + 3600,
        }
        if mailbox and mailbox.display_name:
            claims["name"] = mailbox.display_name
        if mailbox and mailbox.domain not in ("gmail.com", "googlemail.com"):
            claims["hd"] = mailbox.domain
        if nonce:
            claims["nonce"] = nonce
        return self._keys.sign(claims)

    def _token_response(self, token: AccessToken, scopes: tuple[str, ...], **extra: Any) -> ApiResponse:
        body: dict[str, Any] = {
            "access_token": token.value,
            "expires_in": max(0, int(token.expires_at - self.clock.now())),
            "scope": " ".join(scopes),
            "token_type": "Bearer",
        }
        body.update({k: v for k, v in extra.items() if v})
        return ApiResponse.json(body, headers={"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate"})

    def authenticate(self, authorization: str | None) -> Principal:
        """Validate ``Authorization: Bearer`` for an API call, else raise Google's 401."""
        challenge = {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'}
        if not authorization or not authorization.lower().startswith("bearer "):
            raise ApiError(
                401, MISSING_CREDENTIALS, "required", item_message="Login Required.",
                extra={"locationType": "header", "location": "Authorization"}, headers=challenge,
            )
        value = authorization.split(" ", 1)[1].strip()
        with self._lock:
            token = self._tokens.get(value)
            ok = token is not None and not token.grant.revoked and token.expires_at > self.clock.now()
        if not ok or token is None:
            raise ApiError(
                401, INVALID_CREDENTIALS, "authError", item_message="Invalid Credentials",
                extra={"locationType": "header", "location": "Authorization"},
                headers={"WWW-Authenticate": challenge["WWW-Authenticate"] + ', error="invalid_token"'},
            )
        grant = token.grant
        with self._lock:
            project = self._project_of(grant.client_id)
        user = None if grant.kind == "service_account" else grant.subject
        return Principal(user, frozenset(grant.scopes), grant.client_id, grant.kind, project)

    # -- /token -----------------------------------------------------------------------------
    def token(self, req: ApiRequest) -> ApiResponse:
        form = dict(parse_qsl(req.body.decode()))
        grant_type = form.get("grant_type", "")
        if grant_type == JWT_BEARER:
            return self._jwt_bearer(form.get("assertion", ""))
        client, failure = self._client_auth(req, form)
        if failure:
            return failure
        assert client is not None
        if grant_type == "authorization_code":
            return self._code_exchange(client, form)
        if grant_type == "refresh_token":
            return self._refresh_grant(client, form)
        return _oauth_error(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")

    def _client_auth(self, req: ApiRequest, form: dict[str, str]) -> tuple[OAuthClient | None, ApiResponse | None]:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        basic = req.headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(basic.split(" ", 1)[1]).decode()
            except ValueError:
                decoded = ":"
            client_id, _, secret = decoded.partition(":")
        client = self.clients.get(client_id or "")
        if client is None:
            return None, _oauth_error(401, "invalid_client", "The OAuth client was not found.")
        if secret != client.client_secret:
            return None, _oauth_error(401, "invalid_client", "Unauthorized")
        return client, None

    def _code_exchange(self, client: OAuthClient, form: dict[str, str]) -> ApiResponse:
        with self._lock:
            code = self._codes.get(form.get("code", ""))
            if code is None:
                return _oauth_error(400, "invalid_grant", "Malformed auth code.")
            if code.used or code.expires_at < self.clock.now() or code.client_id != client.client_id:
                return _oauth_error(400, "invalid_grant", "Bad Request")
            if form.get("redirect_uri") != code.redirect_uri:
                return _oauth_error(400, "redirect_uri_mismatch", "Bad Request")
            if code.challenge:
                verifier = form.get("code_verifier")
                if not verifier:
                    return _oauth_error(400, "invalid_grant", "Missing code verifier.")
                if _pkce(verifier, code.method) != code.challenge:
                    return _oauth_error(400, "invalid_grant", "Invalid code verifier.")
            code.used = True
            first = not any(
                g.subject == code.user and g.client_id == client.client_id and g.refresh_token and not g.revoked
                for g in self._grants.values()
            )
            offline = code.offline and (first or code.force_consent)
            grant = self._new_grant("user", client.client_id, code.user, code.scopes, offline)
            token = self._new_access_token(grant)
        id_token = self._id_token(grant, code.nonce) if OPENID_SCOPES & set(code.scopes) else None
        return self._token_response(token, code.scopes, refresh_token=grant.refresh_token, id_token=id_token)

    def _refresh_grant(self, client: OAuthClient, form: dict[str, str]) -> ApiResponse:
        with self._lock:
            grant = self._refresh.get(form.get("refresh_token", ""))
            if grant is None or grant.revoked:
                return _oauth_error(400, "invalid_grant", REVOKED)
            if grant.client_id != client.client_id:
                return _oauth_error(401, "unauthorized_client", "Unauthorized")
            scopes = grant.scopes
            if form.get("scope"):
                asked = tuple(form["scope"].split())
                if not set(asked) <= set(grant.scopes):
                    return _oauth_error(400, "invalid_scope", "Bad Request")
                scopes = asked
            token = self._new_access_token(grant)
        id_token = self._id_token(grant) if OPENID_SCOPES & set(scopes) else None
        return self._token_response(token, scopes, id_token=id_token)

    def _jwt_bearer(self, assertion: str) -> ApiResponse:
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return _oauth_error(400, "invalid_grant", "Invalid JWT: Could not parse the JWT.")
        account = self.service_accounts.get(str(unverified.get("iss", "")))
        if account is None:
            return _oauth_error(400, "invalid_grant", "Invalid grant: account not found")
        keys = account.public_keys
        candidates = [keys[header["kid"]]] if header.get("kid") in keys else list(keys.values())
        claims = None
        for pem in candidates:
            try:
                claims = jwt.decode(assertion, pem, algorithms=["RS256"], options={"verify_aud": False,
                                    "verify_exp": False, "verify_iat": False, "verify_nbf": False})
                break
            except jwt.PyJWTError:
                continue
        if claims is None:
            return _oauth_error(400, "invalid_grant", "Invalid JWT Signature.")
        if not self._our_token_uri(str(claims.get("aud", ""))):
            return _oauth_error(400, "invalid_grant", "Invalid JWT: Failed audience check.")
        now = self.clock.now()
        iat, exp = float(claims.get("iat", 0)), float(claims.get("exp", 0))
        if exp - iat > 3600 or iat > now + 300 or exp < now - 300:
            return _oauth_error(400, "invalid_grant", BAD_JWT_TIME)
        scopes = tuple(str(claims.get("scope", "")).split())
        if not scopes:
            return _oauth_error(400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        subject = claims.get("sub")
        with self._lock:
            if not subject or subject == account.email:
                grant = self._new_grant("service_account", account.client_id, account.email, scopes, False)
            else:
                mailbox = self.find_user(str(subject))
                if mailbox is None:
                    return _oauth_error(400, "invalid_grant", "Invalid email or User ID")
                allowed = self.delegation.get((mailbox.domain, account.client_id), set())
                if not set(scopes) <= allowed:
                    return _oauth_error(401, "unauthorized_client", UNAUTHORIZED_CLIENT)
                grant = self._new_grant("delegated", account.client_id, mailbox.address, scopes, False)
            token = self._new_access_token(grant)
        body = {"access_token": token.value, "expires_in": self.token_lifetime, "token_type": "Bearer"}
        return ApiResponse.json(body)

    def _our_token_uri(self, aud: str) -> bool:
        path = urlsplit(aud).path.rstrip("/")
        return (aud.startswith(self.base_url) and path in ("/token", "/o/oauth2/token")) or aud in (
            "https://oauth2.googleapis.com/token",
            "https://accounts.google.com/o/oauth2/token",
        )

    # -- /revoke, userinfo, tokeninfo --------------------------------------------------------
    def revoke(self, req: ApiRequest) -> ApiResponse:
        value = req.param("token") or dict(parse_qsl(req.body.decode())).get("token", "")
        with self._lock:
            grant = self._refresh.get(value) or (self._tokens[value].grant if value in self._tokens else None)
            if grant is None or grant.revoked:
                return _oauth_error(400, "invalid_token", "Token expired or revoked")
            grant.revoked = True  # Google revokes the whole grant, whichever token is given
        return ApiResponse.json({})

    def _bearer_grant(self, req: ApiRequest) -> Grant | None:
        auth = req.headers.get("authorization", "")
        value = auth.split(" ", 1)[1].strip() if auth.lower().startswith("bearer ") else (
            req.param("access_token") or ""
        )
        with self._lock:
            token = self._tokens.get(value)
            if token is None or token.grant.revoked or token.expires_at <= self.clock.now():
                return None
            return token.grant

    def userinfo(self, req: ApiRequest, v2: bool = False) -> ApiResponse:
        grant = self._bearer_grant(req)
        if grant is None or grant.kind == "service_account":
            return ApiResponse.json(
                {"error": "invalid_request", "error_description": "Invalid Credentials"}, 401
            )
        mailbox = self.find_user(grant.subject)
        sub = mailbox.sub if mailbox else grant.subject
        name = mailbox.display_name if mailbox else ""
        if v2:
            return ApiResponse.json({"id": sub, "email": grant.subject, "verified_email": True, "name": name})
        return ApiResponse.json({"sub": sub, "email": grant.subject, "email_verified": True, "name": name})

    def tokeninfo(self, req: ApiRequest) -> ApiResponse:
        value = req.param("access_token") or ""
        with self._lock:
            token = self._tokens.get(value)
            if token is None or token.grant.revoked or token.expires_at <= self.clock.now():
                return _oauth_error(400, "invalid_token", "Invalid Value")
            grant = token.grant
            expires_in = int(token.expires_at - self.clock.now())
        return ApiResponse.json({
            "azp": grant.client_id,
            "aud": grant.client_id,
            "scope": " ".join(grant.scopes),
            "exp": str(int(token.expires_at)),
            "expires_in": str(expires_in),
            "email": grant.subject,
            "email_verified": "true",
            "access_type": "offline" if grant.refresh_token else "online",
        })

    def openid_configuration(self) -> ApiResponse:
        base = self.base_url
        return ApiResponse.json({
            "issuer": ISSUER,
            "authorization_endpoint": f"{base}/o/oauth2/v2/auth",
            "token_endpoint": f"{base}/token",
            "userinfo_endpoint": f"{base}/v1/userinfo",
            "revocation_endpoint": f"{base}/revoke",
            "jwks_uri": f"{base}/oauth2/v3/certs",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["plain", "S256"],
            "grant_types_supported": ["authorization_code", "refresh_token", JWT_BEARER],
        })

