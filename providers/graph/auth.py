"""Microsoft identity through msal: per-user consent (auth code + PKCE), silent refresh, app-only.

Credentials kept per mailbox (encrypted by the core) are JSON: ``{"cache": <msal token cache>,
"tenant_id": …}`` for delegated access, ``{"tenant_id": …}`` for tenant-wide app-only access.
msal rotates refresh tokens; a changed cache is handed back through `take_updates()` so the engine
stores it.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from pathlib import Path
from urllib.parse import quote, urlencode

import msal
import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential,
)

from connector.config import GraphSettings
from connector.errors import ConfigError, GrantRevoked, InputError, TokenExpired, TransientError
from connector.ports import Connected, MailboxRef
from providers.graph.client import retry_after

SCOPES = ["Mail.Read", "User.Read"]  # msal adds openid, profile and offline_access itself
APP_SCOPES = ["https://graph.microsoft.com/.default"]
REVOKED = {"invalid_grant", "interaction_required", "consent_required", "unauthorized_client"}
# The consent callback's user look-up rides out a brief throttle or outage, within what a browser waits for.
BUSY = frozenset({429, 502, 503, 504})
LOOKUP_ATTEMPTS, LOOKUP_MAX_WAIT, LOOKUP_BUDGET = 4, 5.0, 15.0  # seconds


class ConsentDenied(InputError):
    pass


class StateMismatch(InputError):
    pass


class GraphAuth:
    def __init__(self, settings: GraphSettings) -> None:
        self.settings = settings
        self.session = requests.Session()
        if settings.ca_bundle:  # the emulator's throwaway CA; trust_env off or REQUESTS_CA_BUNDLE wins
            self.session.verify = settings.ca_bundle
            self.session.trust_env = False
        self._apps: dict[str, msal.ConfidentialClientApplication] = {}
        # msal keeps discovery answers (the authority's openid-configuration, 24 h) in its http_cache, by default a
        # dict of the app object; a mailbox's app is made anew for each token (its own token cache), so without a
        # shared one every sync step asked the identity platform for its configuration first.
        self._http_cache: dict[str, object] = {}
        self._updates: dict[int, str] = {}
        self._lock = threading.Lock()

    def _app(self, tenant: str | None = None,
             cache: msal.SerializableTokenCache | None = None) -> msal.ConfidentialClientApplication:
        tenant = tenant or self.settings.tenant
        kwargs = {"client_credential": client_credential(self.settings),
                  "authority": f"{self.settings.authority_host.rstrip('/')}/{tenant}",
                  "http_client": self.session, "http_cache": self._http_cache,
                  "instance_discovery": "login.microsoftonline.com" in self.settings.authority_host}
        if cache is not None:
            return msal.ConfidentialClientApplication(self.settings.client_id, token_cache=cache, **kwargs)
        with self._lock:  # app-only tokens are cached inside the app object: keep one per tenant
            if tenant not in self._apps:
                self._apps[tenant] = msal.ConfidentialClientApplication(self.settings.client_id, **kwargs)
            return self._apps[tenant]

    # ------------------------------------------------------------------------------ consent (ConsentFlow)
    def begin(self, redirect_uri: str, login_hint: str | None = None) -> tuple[str, dict[str, str]]:
        flow = self._app().initiate_auth_code_flow(SCOPES, redirect_uri=redirect_uri, login_hint=login_hint,
                                                   response_mode="form_post")  # the code stays out of URLs
        return flow["auth_uri"], {"flow": json.dumps(flow)}

    def finish(self, flow_state: dict[str, str], callback_params: dict[str, str]) -> Connected:
        if callback_params.get("error"):
            detail = callback_params.get("error_description") or callback_params["error"]
            raise ConsentDenied(f"Microsoft sign-in did not grant access: {detail}")
        flow = json.loads(flow_state.get("flow", "{}"))
        if not flow or callback_params.get("state") != flow.get("state"):
            raise StateMismatch("this sign-in link is stale or was not started here: please connect again")
        cache = msal.SerializableTokenCache()
        try:
            result = self._app(cache=cache).acquire_token_by_auth_code_flow(flow, callback_params)
        except ValueError as exc:  # msal's own state/nonce checks
            raise StateMismatch(f"the sign-in response did not match this request: {exc}") from exc
        if "error" in result:
            raise ConsentDenied(f"Microsoft refused the sign-in: {result.get('error_description', result['error'])}")
        claims = result.get("id_token_claims", {})
        oid, tid = str(claims.get("oid") or ""), str(claims.get("tid") or "")
        if not oid or not tid:
            raise ConsentDenied("Microsoft did not say which user signed in")
        # Bound to the Entra object (oid + tid) and the mailbox's own address: preferred_username is the mutable
        # sign-in name, in work tenants the UPN, often not the mail address (ID token claims reference).
        address = self._mailbox_address(str(result["access_token"]), oid)
        credentials = json.dumps({"cache": cache.serialize(), "tenant_id": tid})
        return Connected(address, credentials, oid, str(claims.get("name", "")))

    def _mailbox_address(self, token: str, oid: str) -> str:
        """The user's primary SMTP address: ``mail`` of ``GET /users/{oid}`` (readable with User.Read)."""
        url = f"{self.settings.graph_url.rstrip('/')}/users/{quote(oid)}"
        # Graph answers 429/503/504 now and then: "wait the number of seconds specified in the Retry-After header
        # and retry" (https://learn.microsoft.com/graph/throttling). A few tries, each wait and the whole capped so
        # the user's browser does not hang; then the last answer (or connection error) decides, as below.
        retrying = Retrying(
            retry=retry_if_result(lambda r: r.status_code in BUSY)
            | retry_if_exception_type((requests.ConnectionError, requests.Timeout)),
            wait=_lookup_wait, stop=stop_after_attempt(LOOKUP_ATTEMPTS) | stop_before_delay(LOOKUP_BUDGET),
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None)
        try:
            reply: requests.Response = retrying(
                self.session.get, url, params={"$select": "id,mail,userPrincipalName,proxyAddresses"},
                timeout=30, headers={"Authorization": f"Bearer {token}"})
        except requests.RequestException as exc:
            raise TransientError(f"cannot reach Microsoft Graph: {exc}") from exc
        if not reply.ok:
            raise TransientError(f"Microsoft Graph answered {reply.status_code} for the signed-in user")
        user = reply.json()
        address = str(user.get("mail") or "").strip().lower()
        if user.get("id") != oid or not address:
            raise ConsentDenied(f"{user.get('userPrincipalName') or 'this account'} has no Exchange Online mailbox")
        return address

    def admin_consent_url(self, redirect_uri: str, tenant: str = "organizations") -> str:
        query = urlencode({"client_id": self.settings.client_id, "redirect_uri": redirect_uri})
        return f"{self.settings.authority_host.rstrip('/')}/{tenant}/adminconsent?{query}"

    def tenant_consent(self, domain: str) -> tuple[str, bool]:
        """The Microsoft tenant that owns ``domain`` ("" when none does), and whether it granted this app admin
        consent (application roles in an app-only token; without consent Entra still issues one, without roles).

        For the console's admin-consent callback, whose ``tenant`` parameter anyone can type. The token comes
        straight from the token endpoint over TLS, so its claims are read without checking a signature, and
        through a client of its own, so no token cached before the consent answers.
        """
        try:
            app = self._app(domain, msal.SerializableTokenCache())
            result = app.acquire_token_for_client(APP_SCOPES)
        except ValueError:  # msal: no such authority (no tenant owns the domain)
            return "", False
        except requests.RequestException as exc:
            raise TransientError(f"cannot reach Microsoft to confirm the consent: {exc}") from exc
        if not result or "access_token" not in result:
            return "", False
        payload = str(result["access_token"]).split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return str(claims.get("tid", "")), bool(claims.get("roles"))

    def user_id(self, graph_tenant_id: str, address: str) -> str | None:
        """The object id of the tenant's user whose mailbox answers to ``address``, else None (app-only).

        ``GET /users/{key}`` takes only an id or a UPN, and a mailbox address is often neither, so the
        collection is filtered by ``mail``, ``userPrincipalName`` and the ``proxyAddresses`` aliases (all
        case-insensitive ``eq`` filters Graph supports without advanced queries). Tenant-wide access connects
        only users found here: for anyone else Graph answers ErrorInvalidUser, for ever.
        """
        token = _token_or_raise(self._app(graph_tenant_id).acquire_token_for_client(APP_SCOPES), address)
        literal = address.strip().lower().replace("'", "''")
        wanted = (f"mail eq '{literal}' or userPrincipalName eq '{literal}' "
                  f"or proxyAddresses/any(p:p eq 'smtp:{literal}')")
        try:
            reply = self.session.get(f"{self.settings.graph_url.rstrip('/')}/users", timeout=30,
                                     params={"$filter": wanted, "$select": "id,mail,userPrincipalName"},
                                     headers={"Authorization": f"Bearer {token}"})
        except requests.RequestException as exc:
            raise TransientError(f"cannot reach Microsoft Graph: {exc}") from exc
        if not reply.ok:
            raise TransientError(f"Microsoft Graph answered {reply.status_code} looking up the user {address}")
        found = reply.json().get("value") or []
        return str(found[0]["id"]) if len(found) == 1 else None

    # ------------------------------------------------------------------------------ tokens
    def access_token(self, mailbox: MailboxRef, force_refresh: bool = False) -> str:
        with self._lock:
            credentials = self._updates.get(mailbox.mailbox_id) or mailbox.credentials
        data = json.loads(credentials or "{}")
        if mailbox.app_only:
            result = self._app(data.get("tenant_id") or self.settings.tenant).acquire_token_for_client(APP_SCOPES)
            return _token_or_raise(result, mailbox.address)
        cache = msal.SerializableTokenCache()
        cache.deserialize(data.get("cache") or "{}")
        app = self._app(data.get("tenant_id"), cache)
        accounts = app.get_accounts()
        if not accounts:
            raise GrantRevoked(f"no signed-in account for {mailbox.address}: reconnect")
        result = app.acquire_token_silent_with_error(SCOPES, account=accounts[0], force_refresh=force_refresh)
        token = _token_or_raise(result, mailbox.address)
        if cache.has_state_changed:
            with self._lock:
                self._updates[mailbox.mailbox_id] = json.dumps({**data, "cache": cache.serialize()})
        return token

    def take_updates(self) -> dict[int, str]:
        with self._lock:
            updates, self._updates = self._updates, {}
        return updates


def _lookup_wait(state: RetryCallState) -> float:
    """Graph's Retry-After (seconds) when it sent one, else 0.5, 1, 2 s; at most LOOKUP_MAX_WAIT."""
    reply = state.outcome.result() if state.outcome and not state.outcome.failed else None
    if reply is not None and "retry-after" in reply.headers:
        return min(retry_after(reply.headers), LOOKUP_MAX_WAIT)
    return float(wait_exponential(multiplier=0.5, max=LOOKUP_MAX_WAIT)(state))


def _token_or_raise(result: dict | None, address: str) -> str:
    if result and "access_token" in result:
        return str(result["access_token"])
    error = (result or {}).get("error", "no_token")
    detail = (result or {}).get("error_description", "")
    if error in REVOKED:
        raise GrantRevoked(f"Microsoft refused a token for {address}: {error} {detail}".strip())
    raise TokenExpired(f"no token for {address}: {error} {detail}".strip())


def client_credential(settings: GraphSettings) -> str | dict[str, str]:
    """The app's credential for msal: its certificate when one is configured (msal signs a client assertion
    with it, SHA-256 thumbprint, PS256), else the client secret."""
    if not settings.client_certificate_file:
        return settings.client_secret or ""
    try:
        pem = Path(settings.client_certificate_file).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("graph.client_certificate_file", f"cannot read it: {exc.strerror}") from exc
    key = re.search(r"-----BEGIN (?:RSA |EC )?PRIVATE KEY-----.+?-----END (?:RSA |EC )?PRIVATE KEY-----", pem, re.S)
    cert = re.search(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", pem, re.S)
    if key is None or cert is None:
        raise ConfigError("graph.client_certificate_file", "must hold the certificate and its private key (PEM)")
    return {"private_key": key.group(0), "public_certificate": cert.group(0)}
