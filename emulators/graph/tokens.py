"""Grants and tokens of the emulated Microsoft identity platform.

Access tokens and id_tokens are RS256 JWTs signed with one RSA key published at ``jwks_uri``;
the server also remembers every access token by its ``uti`` claim so that a revoked grant turns
its still-unexpired tokens into 401s (as continuous access evaluation does). Refresh tokens are
opaque and rotate: every refresh returns a new one. Like Microsoft Entra ID, the previous refresh
token stays valid unless ``strict_refresh_rotation`` is set. Lifetimes follow the emulated clock.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import json
import secrets
import threading
from dataclasses import dataclass, field

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from emulators.clock import Clock

from .state import User, World

GRAPH_RESOURCE = "https://graph.microsoft.com"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
DEFAULT_APP_ROLES = ("Mail.Read", "Mail.ReadWrite", "Mail.Send", "User.Read.All")
OIDC_SCOPES = {"openid", "profile", "offline_access", "email"}


class GrantError(Exception):
    """An OAuth error answered by the token endpoint in Entra's JSON shape."""

    def __init__(self, error: str, code: int, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.code, self.description, self.status = error, code, description, status


@dataclass
class AuthCode:
    client_id: str
    user_id: str
    scopes: list[str]
    redirect_uri: str
    challenge: str | None
    method: str
    nonce: str | None
    expires: float
    used: bool = False


@dataclass
class RefreshGrant:
    user_id: str
    client_id: str
    scopes: list[str]
    issued: float
    expires: float
    family: str
    revoked: bool = False


@dataclass
class AccessGrant:
    client_id: str
    tenant_id: str
    user_id: str | None
    scopes: tuple[str, ...]
    roles: tuple[str, ...]
    expires: float
    revoked: bool = False


@dataclass
class IssuedTokens:
    body: dict[str, object]


@dataclass
class TokenCheck:
    grant: AccessGrant | None
    problem: str = ""


def graph_scopes(requested: list[str]) -> list[str]:
    """``https://graph.microsoft.com/Mail.Read`` → ``Mail.Read``; OIDC scopes dropped."""
    found: list[str] = []
    for scope in requested:
        name = scope.removeprefix(GRAPH_RESOURCE + "/")
        if name and name.lower() not in OIDC_SCOPES and name not in found:
            found.append(name)
    return found


def pkce_matches(verifier: str, challenge: str, method: str) -> bool:
    if method.lower() == "plain":
        return secrets.compare_digest(verifier, challenge)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    expected = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    return secrets.compare_digest(expected, challenge)


@dataclass
class TokenService:
    world: World
    clock: Clock
    access_token_lifetime: float = 3600.0
    refresh_token_lifetime: float = 90 * 86400.0
    code_lifetime: float = 600.0
    strict_refresh_rotation: bool = False
    kid: str = field(default_factory=lambda: secrets.token_hex(8))

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._key = _signing_key()
        self._codes: dict[str, AuthCode] = {}
        self._refresh: dict[str, RefreshGrant] = {}
        self._access: dict[str, AccessGrant] = {}
        self.consents: dict[tuple[str, str], set[str]] = {}  # (user_id, client_id) → scopes
        self.admin_consents: set[tuple[str, str]] = set()  # (tenant_id, client_id)

    # --- keys ----------------------------------------------------------------------------------
    def jwks(self) -> dict[str, object]:
        numbers = self._key.public_key().public_numbers()

        def b64(value: int) -> str:
            raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
            return base64.urlsafe_b64encode(raw).decode().rstrip("=")

        return {"keys": [{"kty": "RSA", "use": "sig", "kid": self.kid, "x5t": self.kid,
                          "n": b64(numbers.n), "e": b64(numbers.e), "alg": "RS256"}]}

    def _sign(self, claims: dict[str, object]) -> str:
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid, "typ": "JWT"})

    # --- consent -------------------------------------------------------------------------------
    def grant_consent(self, user_id: str, client_id: str, scopes: list[str]) -> None:
        with self._lock:
            self.consents.setdefault((user_id, client_id), set()).update(graph_scopes(scopes))

    def grant_admin_consent(self, tenant_id: str, client_id: str) -> None:
        with self._lock:
            self.admin_consents.add((tenant_id, client_id))

    def revoke(self, user_id: str | None, client_id: str | None = None, tenant_id: str | None = None) -> None:
        """Kill refresh tokens (→ invalid_grant) and access tokens (→ 401) of a user or an app."""
        with self._lock:
            for grant in self._refresh.values():
                if grant.user_id == user_id and client_id in (None, grant.client_id):
                    grant.revoked = True
            for access in self._access.values():
                same_client = client_id in (None, access.client_id)
                if user_id is not None and access.user_id == user_id and same_client:
                    access.revoked = True
                if user_id is None and tenant_id == access.tenant_id and access.user_id is None and same_client:
                    access.revoked = True
            if user_id is not None:
                for key in [k for k in self.consents if k[0] == user_id and client_id in (None, k[1])]:
                    del self.consents[key]
            if tenant_id is not None:
                self.admin_consents = {
                    (t, c) for t, c in self.admin_consents if not (t == tenant_id and client_id in (None, c))
                }

    def expire_access_tokens(self, user_id: str | None = None) -> None:
        """Make live access tokens (of one user, or all) read as expired."""
        with self._lock:
            for access in self._access.values():
                if user_id is None or access.user_id == user_id:
                    access.expires = self.clock.now() - 1

    # --- codes ---------------------------------------------------------------------------------
    def issue_code(self, client_id: str, user: User, scopes: list[str], redirect_uri: str,
                   challenge: str | None, method: str, nonce: str | None) -> str:
        code = "1.AU" + secrets.token_urlsafe(48)
        with self._lock:
            self._codes[code] = AuthCode(client_id, user.id, scopes, redirect_uri, challenge,
                                         method or "plain", nonce, self.clock.now() + self.code_lifetime)
        return code

    def redeem_code(self, client_id: str, code: str, redirect_uri: str, verifier: str | None,
                    issuer_base: str) -> IssuedTokens:
        with self._lock:
            grant = self._codes.get(code)
            if grant is None or grant.client_id != client_id:
                raise GrantError("invalid_grant", 9002313, "AADSTS9002313: Invalid request. Request is "
                                 "malformed or invalid. - The provided value for the 'code' parameter is not valid.")
            if grant.used:
                raise GrantError("invalid_grant", 54005, "AADSTS54005: OAuth2 Authorization code was already "
                                 "redeemed, please retry with a new valid code or use an existing refresh token.")
            grant.used = True
            if grant.expires < self.clock.now():
                raise GrantError("invalid_grant", 70008, "AADSTS70008: The provided authorization code or "
                                 "refresh token has expired due to inactivity. Send a new interactive "
                                 "authorization request for this user and resource.")
            if redirect_uri != grant.redirect_uri:
                raise GrantError("invalid_grant", 500112, "AADSTS500112: The reply address "
                                 f"'{redirect_uri}' does not match the reply address "
                                 f"'{grant.redirect_uri}' provided when requesting Authorization code.")
        if grant.challenge and not (verifier and pkce_matches(verifier, grant.challenge, grant.method)):
            raise GrantError("invalid_grant", 501481, "AADSTS501481: The Code_Verifier does not match "
                             "the code_challenge supplied in the authorization request.")
        user = self.world.users[grant.user_id]
        return self._delegated(user, client_id, grant.scopes, issuer_base, grant.nonce, family=None)

    def redeem_refresh_token(self, client_id: str, token: str, scopes: list[str],
                             issuer_base: str) -> IssuedTokens:
        now = self.clock.now()
        with self._lock:
            grant = self._refresh.get(token)
            if grant is None or grant.client_id != client_id:
                raise GrantError("invalid_grant", 9002313, "AADSTS9002313: Invalid request. Request is "
                                 "malformed or invalid. - The provided refresh token is not valid.")
            if grant.revoked:
                raise GrantError("invalid_grant", 50173, "AADSTS50173: The provided grant has expired due "
                                 "to it being revoked, a fresh auth token is needed. The user might have "
                                 "changed or reset their password.")
            if grant.expires < now:
                raise GrantError("invalid_grant", 700082, "AADSTS700082: The refresh token has expired due "
                                 "to inactivity. The token was issued on "
                                 f"{_aad_time(grant.issued)} and was inactive for 90.00:00:00.")
            if self.strict_refresh_rotation:
                grant.revoked = True
            wanted = graph_scopes(scopes) or grant.scopes
        user = self.world.users[grant.user_id]
        return self._delegated(user, client_id, wanted, issuer_base, None, family=grant.family)

    def client_credentials(self, client_id: str, tenant_id: str, scopes: list[str]) -> IssuedTokens:
        if scopes != [f"{GRAPH_RESOURCE}/.default"]:
            raise GrantError("invalid_scope", 1002012, f"AADSTS1002012: The provided value for scope "
                             f"{' '.join(scopes)} is not valid. Client credential flows must have a scope "
                             "value with /.default suffixed to the resource identifier (application ID URI).")
        now = self.clock.now()
        # Without admin consent Entra still issues a token, only without roles: Graph then says 403.
        roles = DEFAULT_APP_ROLES if (tenant_id, client_id) in self.admin_consents else ()
        uti = secrets.token_urlsafe(16)
        claims: dict[str, object] = {
            "aud": GRAPH_RESOURCE, "iss": f"https://sts.windows.net/{tenant_id}/", "iat": int(now),
            "nbf": int(now), "exp": int(now + self.access_token_lifetime), "appid": client_id,
            "azp": client_id, "idtyp": "app", "tid": tenant_id, "oid": _app_oid(client_id, tenant_id),
            "roles": list(roles), "uti": uti, "ver": "1.0",
        }
        with self._lock:
            self._access[uti] = AccessGrant(client_id, tenant_id, None, (), roles, now + self.access_token_lifetime)
        lifetime = int(self.access_token_lifetime)
        return IssuedTokens({"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
                             "access_token": self._sign(claims)})

    def _delegated(self, user: User, client_id: str, scopes: list[str], issuer_base: str,
                   nonce: str | None, family: str | None) -> IssuedTokens:
        now = self.clock.now()
        granted = graph_scopes(scopes) or ["User.Read"]
        uti = secrets.token_urlsafe(16)
        access_claims: dict[str, object] = {
            "aud": GRAPH_RESOURCE, "iss": f"https://sts.windows.net/{user.tenant_id}/", "iat": int(now),
            "nbf": int(now), "exp": int(now + self.access_token_lifetime), "appid": client_id,
            "idtyp": "user", "name": user.display_name, "oid": user.id, "scp": " ".join(granted),
            "tid": user.tenant_id, "unique_name": user.principal_name, "upn": user.principal_name, "uti": uti,
            "ver": "1.0",
        }
        id_claims: dict[str, object] = {
            "aud": client_id, "iss": f"{issuer_base}/{user.tenant_id}/v2.0", "iat": int(now),
            "nbf": int(now), "exp": int(now + 3600), "name": user.display_name, "oid": user.id,
            # preferred_username is the UPN (mutable, not necessarily the mailbox): ID token claims reference.
            "preferred_username": user.principal_name, "email": user.address,
            "sub": _pairwise_sub(user.id, client_id), "tid": user.tenant_id, "ver": "2.0",
            "uti": secrets.token_urlsafe(16),
        }
        if nonce:
            id_claims["nonce"] = nonce
        refresh = "1.AR" + secrets.token_urlsafe(64)
        with self._lock:
            self._access[uti] = AccessGrant(client_id, user.tenant_id, user.id, tuple(granted), (),
                                            now + self.access_token_lifetime)
            self._refresh[refresh] = RefreshGrant(user.id, client_id, granted, now,
                                                  now + self.refresh_token_lifetime,
                                                  family or secrets.token_hex(8))
        client_info = base64.urlsafe_b64encode(
            json.dumps({"uid": user.id, "utid": user.tenant_id}).encode()
        ).decode().rstrip("=")
        lifetime = int(self.access_token_lifetime)
        return IssuedTokens({
            "token_type": "Bearer", "scope": " ".join([*granted, "openid", "profile", "email"]),
            "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": self._sign(access_claims),
            "refresh_token": refresh, "id_token": self._sign(id_claims), "client_info": client_info,
        })

    # --- checking bearer tokens -------------------------------------------------------------------
    def check(self, token: str) -> TokenCheck:
        try:
            claims = jwt.decode(token, self._key.public_key(), algorithms=["RS256"],
                                audience=[GRAPH_RESOURCE, GRAPH_APP_ID],
                                options={"verify_exp": False, "verify_nbf": False, "verify_iat": False})
        except jwt.PyJWTError:
            return TokenCheck(None, "IDX14100: JWT is not well formed, or its signature is invalid.")
        with self._lock:
            grant = self._access.get(str(claims.get("uti", "")))
        if grant is None:
            return TokenCheck(None, "Access token validation failure. Invalid audience.")
        if grant.revoked:
            return TokenCheck(None, "Continuous access evaluation resulted in challenge with result: "
                              "InteractionRequired and code: TokenIssuedBeforeRevocationTimestamp")
        if grant.expires <= self.clock.now():
            return TokenCheck(None, "Lifetime validation failed, the token is expired.")
        return TokenCheck(grant)


@functools.cache
def _signing_key() -> rsa.RSAPrivateKey:
    """One RSA key per process: emulators still reject each other's tokens (unknown ``uti``)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pairwise_sub(user_id: str, client_id: str) -> str:
    digest = hashlib.sha256(f"{user_id}|{client_id}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:43]


def _app_oid(client_id: str, tenant_id: str) -> str:
    digest = hashlib.sha256(f"sp|{client_id}|{tenant_id}".encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def _aad_time(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
