"""Sign-in with Microsoft (msal) or Google (google-auth-oauthlib): OpenID Connect, authorization code + PKCE.

The address the identity provider vouches for must be some user's login address; anything else is
answered with a "not a user here" page. Both id_tokens come straight from the token endpoint over
TLS, so their signatures need not be checked (OpenID Connect Core 3.1.3.7); their claims are.
Microsoft: ``preferred_username`` (msal checks nonce, audience, issuer). Google: issuer, audience,
and ``email_verified``. In-flight flow state lives encrypted in the session cookie.
"""

from __future__ import annotations

import hmac
from typing import Any, Protocol

import msal
import requests
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from google.auth import jwt
from google_auth_oauthlib.flow import Flow
from oauthlib.oauth2.rfc6749.errors import OAuth2Error
from sqlmodel import Session, select

from connector.config import GmailSettings, GraphSettings
from connector.models import User
from connector.web import security
from connector.web.security import csrf_guard, flash
from connector.web.templating import render

# The long form of "email": Google answers with it, and oauthlib rejects a changed scope set.
GOOGLE_SCOPES = ["openid", "https://www.googleapis.com/auth/userinfo.email"]
GOOGLE_ISSUERS = ("accounts.google.com", "https://accounts.google.com")


class SignInFailed(Exception):
    """A message for the person signing in."""


class SignInProvider(Protocol):
    name: str
    label: str

    def configured(self) -> bool: ...

    def begin(self, redirect_uri: str) -> tuple[str, dict[str, Any]]: ...

    def finish(self, state: dict[str, Any], params: dict[str, str]) -> str:
        """The signed-in address (lower case); SignInFailed otherwise."""


class MicrosoftSignIn:
    name, label = "microsoft", "Microsoft"

    def __init__(self, settings: GraphSettings) -> None:
        self.settings = settings

    def configured(self) -> bool:
        return bool(self.settings.enabled and self.settings.client_id)

    def _app(self) -> msal.ConfidentialClientApplication:
        # A fresh app per sign-in: msal's in-memory token cache must not collect everybody's tokens.
        http = requests.Session()
        if self.settings.ca_bundle:
            http.verify, http.trust_env = self.settings.ca_bundle, False
        return msal.ConfidentialClientApplication(
            self.settings.client_id, client_credential=self.settings.client_secret, http_client=http,
            authority=f"{self.settings.authority_host.rstrip('/')}/{self.settings.tenant}", instance_discovery=False)

    def begin(self, redirect_uri: str) -> tuple[str, dict[str, Any]]:
        flow = self._app().initiate_auth_code_flow(["email"], redirect_uri=redirect_uri, prompt="select_account")
        url = flow.pop("auth_uri")  # not needed to finish; keeps the cookie small
        return url, flow

    def finish(self, state: dict[str, Any], params: dict[str, str]) -> str:
        if params.get("error"):
            raise SignInFailed(_declined("Microsoft", params))
        try:
            result = self._app().acquire_token_by_auth_code_flow(state, params)
        except ValueError as exc:  # msal: state mismatch
            raise SignInFailed("The answer from Microsoft does not belong to this sign-in. "
                               "Please start again.") from exc
        if "error" in result:
            raise SignInFailed(f"Microsoft did not sign you in: {result.get('error_description') or result['error']}")
        # Only preferred_username: the optional `email` claim is not verified by Microsoft.
        address = str(result.get("id_token_claims", {}).get("preferred_username", "")).lower()
        if "@" not in address:
            raise SignInFailed("Microsoft did not tell us your e-mail address.")
        return address


class GoogleSignIn:
    name, label = "google", "Google"

    def __init__(self, settings: GmailSettings) -> None:
        self.settings = settings

    def configured(self) -> bool:
        return bool(self.settings.enabled and self.settings.client_id)

    def _flow(self, redirect_uri: str, **kw: Any) -> Flow:
        config = {"web": {"client_id": self.settings.client_id, "client_secret": self.settings.client_secret or "",
                          "auth_uri": self.settings.auth_uri, "token_uri": self.settings.token_uri,
                          "redirect_uris": [redirect_uri]}}
        return Flow.from_client_config(config, scopes=GOOGLE_SCOPES, redirect_uri=redirect_uri, **kw)

    def begin(self, redirect_uri: str) -> tuple[str, dict[str, Any]]:
        flow = self._flow(redirect_uri)
        url, state = flow.authorization_url(prompt="select_account")
        return url, {"state": state, "verifier": flow.code_verifier, "redirect_uri": redirect_uri}

    def finish(self, state: dict[str, Any], params: dict[str, str]) -> str:
        if params.get("error"):
            raise SignInFailed(_declined("Google", params))
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


def _declined(who: str, params: dict[str, str]) -> str:
    if params.get("error") == "access_denied":
        return f"Sign-in with {who} was cancelled."
    return f"{who} did not sign you in: {params.get('error_description') or params['error']}"


def providers(request: Request) -> dict[str, SignInProvider]:
    settings = security.context(request).settings
    found: list[SignInProvider] = [MicrosoftSignIn(settings.graph), GoogleSignIn(settings.gmail)]
    return {p.name: p for p in found if p.configured()}


def router() -> APIRouter:
    api = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_guard)])

    @api.get("/signin")
    def signin_page(request: Request) -> Response:
        if isinstance(request.session.get("uid"), int):
            return RedirectResponse("/records", 303)
        return render(request, "signin.html", None, providers=list(providers(request).values()))

    @api.post("/signin/{name}")
    def start(name: str, request: Request) -> Response:
        provider = providers(request).get(name)
        if provider is None:
            return render(request, "error.html", None, 404, title="Not found", message="No such sign-in method.")
        url, state = provider.begin(security.external_url(request, f"/signin/{name}/callback"))
        next_path = security.safe_next(request.query_params.get("next"))
        security.put_secret(request, "signin", {"provider": name, "flow": state, "next": next_path})
        return RedirectResponse(url, 303)

    @api.get("/signin/{name}/callback")
    def callback(name: str, request: Request) -> Response:
        pending = security.pop_secret(request, "signin")
        provider = providers(request).get(name)
        if provider is None or pending is None or pending.get("provider") != name:
            flash(request, "This sign-in has expired or was started in another browser. Please start again.", "error")
            return RedirectResponse("/signin", 303)
        try:
            address = provider.finish(pending["flow"], dict(request.query_params))
        except SignInFailed as exc:
            flash(request, str(exc), "error")
            return RedirectResponse("/signin", 303)
        with Session(security.context(request).engine) as session:
            user = session.exec(select(User).where(User.email == address)).first()
        if user is None or not user.active:
            return render(request, "not_user.html", None, 403, address=address, provider=provider.label)
        security.sign_in(request, user)
        return RedirectResponse(security.safe_next(pending.get("next")), 303)

    @api.post("/signout")
    def signout(request: Request) -> Response:
        request.session.clear()
        flash(request, "You are signed out.")
        return RedirectResponse("/signin", 303)

    return api
