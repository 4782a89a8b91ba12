"""The Microsoft identity platform endpoints (v2.0) the real ``msal`` talks to.

Served over HTTPS only by clients' choice: msal refuses non-``https`` authorities. Routes::

    GET       /{tenant}/v2.0/.well-known/openid-configuration
    GET       /{tenant}/discovery/v2.0/keys
    GET|POST  /{tenant}/oauth2/v2.0/authorize      consent page, or auto-approve/deny (knob)
    POST      /{tenant}/oauth2/v2.0/token          authorization_code (+PKCE), refresh_token,
                                                   client_credentials (scope …/.default)
    GET       /{tenant}/adminconsent, /{tenant}/v2.0/adminconsent

``{tenant}`` is a tenant id, a verified domain, ``organizations`` or ``common``. Errors use Entra's
JSON shape (error, error_description with AADSTS code, error_codes, timestamp, trace_id,
correlation_id, error_uri); consent decisions come back to ``redirect_uri`` like Entra's do.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from . import assertions
from .consent_page import consent_page
from .state import User, World
from .tokens import GrantError, TokenService
from .wire import new_guid

MULTI_TENANT = {"common", "organizations"}


@dataclass
class ConsentKnobs:
    mode: str = "page"  # "page" (interactive HTML), "approve" or "deny" (tests)
    login_user: str | None = None  # who signs in when no login_hint is given


def aad_error(err: GrantError) -> JSONResponse:
    trace, correlation = new_guid(), new_guid()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    description = f"{err.description}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {stamp}"
    return JSONResponse(
        {"error": err.error, "error_description": description, "error_codes": [err.code],
         "timestamp": stamp, "trace_id": trace, "correlation_id": correlation,
         "error_uri": f"https://login.microsoftonline.com/error?code={err.code}"},
        status_code=err.status,
    )


def _error_page(message: str, status: int = 400) -> HTMLResponse:
    body = ("<html><body><h1>Sign in</h1><p>Sorry, but we're having trouble signing you in.</p>"
            f"<p>{html.escape(message)}</p></body></html>")
    return HTMLResponse(body, status_code=status)


def _redirect(uri: str, params: dict[str, str], response_mode: str = "query") -> Response:
    params = {k: v for k, v in params.items() if v is not None}
    if response_mode == "form_post":
        inputs = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}"/>'
                         for k, v in params.items())
        return HTMLResponse(f'<html><body onload="document.forms[0].submit()"><form method="POST" '
                            f'action="{html.escape(uri)}">{inputs}</form></body></html>')
    joiner = "&" if "?" in uri else "?"
    return RedirectResponse(f"{uri}{joiner}{urlencode(params)}", status_code=302)


class IdentityEndpoints:
    def __init__(self, world: World, tokens: TokenService, knobs: ConsentKnobs) -> None:
        self.world, self.tokens, self.knobs = world, tokens, knobs
        self._assertions_seen: set[str] = set()  # client assertion jti values: each may be used once

    def routes(self) -> list[Route]:
        return [
            Route("/{tenant}/v2.0/.well-known/openid-configuration", self.openid_configuration),
            Route("/{tenant}/discovery/v2.0/keys", self.keys),
            Route("/{tenant}/oauth2/v2.0/authorize", self.authorize, methods=["GET", "POST"]),
            Route("/{tenant}/oauth2/v2.0/token", self.token, methods=["POST"]),
            Route("/{tenant}/adminconsent", self.admin_consent, methods=["GET", "POST"]),
            Route("/{tenant}/v2.0/adminconsent", self.admin_consent, methods=["GET", "POST"]),
        ]

    @staticmethod
    def _base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def _tenant_ok(self, tenant: str) -> bool:
        return tenant.lower() in MULTI_TENANT or self.world.tenant_for(tenant) is not None

    async def openid_configuration(self, request: Request) -> Response:
        tenant = request.path_params["tenant"]
        if not self._tenant_ok(tenant):
            return aad_error(GrantError("invalid_tenant", 90002, f"AADSTS90002: Tenant '{tenant}' not "
                                        "found. Check to make sure you have the correct tenant ID and are "
                                        "signing into the correct cloud."))
        base = self._base(request)
        known = self.world.tenant_for(tenant)
        issuer_tenant = known.id if known else "{tenantid}"
        root = f"{base}/{tenant}"
        return JSONResponse({
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{root}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/{issuer_tenant}/v2.0",
            "request_uri_parameter_supported": False,
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "name", "tid",
                                 "ver", "oid", "preferred_username", "email"],
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "msgraph_host": "graph.microsoft.com",
        })

    async def keys(self, request: Request) -> Response:
        return JSONResponse(self.tokens.jwks())

    # --- sign-in and consent ---------------------------------------------------------------------
    def _pick_user(self, tenant: str, hint: str | None) -> User | None:
        for candidate in (hint, self.knobs.login_user):
            if candidate:
                user = self.world.user(candidate)
                if user:
                    return user
        known = self.world.tenant_for(tenant)
        users = [u for u in self.world.users.values() if known is None or u.tenant_id == known.id]
        return users[0] if len(users) == 1 else None

    async def _params(self, request: Request) -> dict[str, str]:
        params = dict(request.query_params)
        if request.method == "POST":
            form = await request.form()
            params.update({k: str(v) for k, v in form.items()})
        return params

    def _check_client(self, params: dict[str, str]) -> Response | None:
        client_id = params.get("client_id", "")
        app = self.world.apps.get(client_id)
        if app is None:
            return _error_page(f"AADSTS700016: Application with identifier '{client_id}' was not found "
                               "in the directory.")
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in app.redirect_uris:
            return _error_page(f"AADSTS50011: The redirect URI '{redirect_uri}' specified in the request "
                               f"does not match the redirect URIs configured for the application '{client_id}'.")
        return None

    async def authorize(self, request: Request) -> Response:
        tenant = request.path_params["tenant"]
        params = await self._params(request)
        problem = self._check_client(params)
        if problem:
            return problem
        redirect_uri, state = params["redirect_uri"], params.get("state", "")
        mode = params.get("response_mode", "query")
        if "code" not in params.get("response_type", "").split():
            return _redirect(redirect_uri, {"error": "unsupported_response_type", "error_description":
                             "AADSTS900144: The request body must contain the following parameter: "
                             "'response_type'.", "state": state}, mode)
        decision = params.get("decision") or (self.knobs.mode if self.knobs.mode != "page" else "")
        if not decision:
            return self._consent_page(request, params, "authorize")
        if decision == "deny":
            return _redirect(redirect_uri, {"error": "access_denied", "error_subcode": "cancel",
                             "error_description": "AADSTS65004: User declined to consent to access the app.",
                             "state": state}, mode)
        user = self._pick_user(tenant, params.get("chosen_user") or params.get("login_hint"))
        if user is None:
            return _redirect(redirect_uri, {"error": "interaction_required", "error_description":
                             "AADSTS50058: A silent sign-in request was sent but no user is signed in.",
                             "state": state}, mode)
        if user.shared:  # a shared mailbox's account is disabled: nobody signs in as it
            return _error_page("AADSTS50057: The user account is disabled.")
        known = self.world.tenant_for(tenant)
        if known is not None and known.id != user.tenant_id:
            return _redirect(redirect_uri, {"error": "invalid_request", "error_description":
                             f"AADSTS50020: User account '{user.address}' from identity provider does not "
                             "exist in tenant and cannot access the application.", "state": state}, mode)
        scopes = params.get("scope", "").split()
        self.tokens.grant_consent(user.id, params["client_id"], scopes)
        code = self.tokens.issue_code(params["client_id"], user, scopes, redirect_uri,
                                      params.get("code_challenge"), params.get("code_challenge_method", "plain"),
                                      params.get("nonce"))
        return _redirect(redirect_uri, {"code": code, "state": state,
                                        "session_state": secrets.token_hex(16)}, mode)

    async def admin_consent(self, request: Request) -> Response:
        tenant = request.path_params["tenant"]
        params = await self._params(request)
        problem = self._check_client(params)
        if problem:
            return problem
        redirect_uri, state = params["redirect_uri"], params.get("state", "")
        decision = params.get("decision") or (self.knobs.mode if self.knobs.mode != "page" else "")
        if not decision:
            return self._consent_page(request, params, "adminconsent")
        if decision == "deny":
            return _redirect(redirect_uri, {"error": "access_denied", "error_description":
                             "AADSTS65004: The resource owner or authorization server denied the request.",
                             "state": state, "admin_consent": "False"})
        known = self.world.tenant_for(tenant)
        admin = self._pick_user(tenant, params.get("chosen_user") or params.get("login_hint"))
        tenant_id = known.id if known else (admin.tenant_id if admin else None)
        if tenant_id is None:
            return _error_page("AADSTS50058: no signed-in administrator; pass login_hint or set login_user.")
        self.tokens.grant_admin_consent(tenant_id, params["client_id"])
        reply = {"admin_consent": "True", "tenant": tenant_id, "state": state}
        if "/v2.0/" in request.url.path:
            reply["scope"] = params.get("scope", "https://graph.microsoft.com/.default")
        return _redirect(redirect_uri, reply)

    def _consent_page(self, request: Request, params: dict[str, str], kind: str) -> HTMLResponse:
        hint = params.get("login_hint") or self.knobs.login_user or ""
        return HTMLResponse(consent_page(self.world.apps[params["client_id"]], self.world.users.values(), params,
                                         action=request.url.path, hint=hint, tenant_wide=kind == "adminconsent"))

    # --- token endpoint ----------------------------------------------------------------------------
    async def token(self, request: Request) -> Response:
        tenant = request.path_params["tenant"]
        form = {k: str(v) for k, v in (await request.form()).items()}
        try:
            client_id = self._authenticate_client(request, form, tenant)
            grant_type = form.get("grant_type", "")
            scopes = form.get("scope", "").split()
            base = self._base(request)
            if grant_type == "authorization_code":
                issued = self.tokens.redeem_code(client_id, form.get("code", ""), form.get("redirect_uri", ""),
                                                 form.get("code_verifier"), base)
            elif grant_type == "refresh_token":
                issued = self.tokens.redeem_refresh_token(client_id, form.get("refresh_token", ""), scopes, base)
            elif grant_type == "client_credentials":
                known = self.world.tenant_for(tenant)
                if known is None:
                    raise GrantError("invalid_request", 50059, "AADSTS50059: No tenant-identifying "
                                     "information found in either the request or implied by any provided "
                                     "credentials.")
                issued = self.tokens.client_credentials(client_id, known.id, scopes)
            else:
                raise GrantError("unsupported_grant_type", 70003, "AADSTS70003: The app requested an "
                                 "unsupported grant type.")
        except GrantError as err:
            return aad_error(err)
        return JSONResponse(issued.body, headers={"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"})

    def _authenticate_client(self, request: Request, form: dict[str, str], tenant: str) -> str:
        client_id, secret = form.get("client_id", ""), form.get("client_secret")
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            decoded = base64.b64decode(auth[6:]).decode()
            client_id, _, secret = decoded.partition(":")
        app = self.world.apps.get(client_id)
        if app is None:
            raise GrantError("unauthorized_client", 700016, f"AADSTS700016: Application with identifier "
                             f"'{client_id}' was not found in the directory '{tenant}'.")
        if form.get("client_assertion_type") == assertions.JWT_BEARER and form.get("client_assertion"):
            endpoint = f"{str(request.base_url).rstrip('/')}/{tenant}/oauth2/v2.0/token"
            assertions.verify(form["client_assertion"], client_id, app.certificates, endpoint, self._assertions_seen)
            return client_id
        if not secret:
            raise GrantError("invalid_client", 7000218, "AADSTS7000218: The request body must contain the "
                             "following parameter: 'client_assertion' or 'client_secret'.", status=401)
        if not secrets.compare_digest(secret, app.client_secret):
            raise GrantError("invalid_client", 7000215, "AADSTS7000215: Invalid client secret provided. "
                             "Ensure the secret being sent in the request is the client secret value, not "
                             f"the client secret ID, for a secret added to app '{client_id}'.", status=401)
        return client_id
