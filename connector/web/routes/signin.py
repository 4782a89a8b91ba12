"""Sign-in to the console through the identity providers the composition root registered (`connector.ports.SignIn`).

The address the identity provider vouches for must be some user's login address; anything else is
answered with a "not a user here" page. In-flight flow state lives encrypted in the session cookie. The
address of the last sign-in stays in it, signed out or not, as the next sign-in's ``login_hint``.
"""

from __future__ import annotations

import inspect
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from connector.errors import SignInFailed
from connector.ports import SignIn
from connector.services import users
from connector.web import form_post, security
from connector.web.deps import Context, DbSession
from connector.web.security import csrf_guard, flash
from connector.web.templating import render_page

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_guard)])
LAST_LOGIN = "last_login"  # session key: who signed in last in this browser


def _signed_in(request: Request) -> bool:
    return isinstance(request.session.get("uid"), int)


@router.get("/")
def home(request: Request) -> Response:
    return RedirectResponse("/records" if _signed_in(request) else "/signin", 303)


@router.get("/signin")
def signin_page(request: Request, context: Context) -> Response:
    if _signed_in(request):
        return RedirectResponse("/records", 303)
    return render_page(request, "signin.html", None, providers=list(context.sign_ins.values()))


@router.post("/signin/{name}")
def start(name: str, request: Request, context: Context) -> Response:
    provider = context.sign_ins.get(name)
    if provider is None:
        return render_page(request, "error.html", None, 404, title="Not found", message="No such sign-in method.")
    hint = request.session.get(LAST_LOGIN)
    url, state = _begin(provider, security.external_url(request, f"/signin/{name}/callback"),
                        hint if isinstance(hint, str) else None)
    next_path = security.safe_next(request.query_params.get("next"))
    security.put_secret(request, "signin", {"provider": name, "flow": state, "next": next_path})
    return RedirectResponse(url, 303)


@router.get("/signin/{name}/callback")
def callback(name: str, request: Request, session: DbSession, context: Context) -> Response:
    pending = security.pop_secret(request, "signin")
    provider = context.sign_ins.get(name)
    if provider is None or pending is None or pending.get("provider") != name:
        flash(request, "This sign-in has expired or was started in another browser. Please start again.", "error")
        return RedirectResponse("/signin", 303)
    try:
        address = provider.finish(pending["flow"], form_post.provider_answer(request))
    except SignInFailed as exc:
        flash(request, str(exc), "error")
        return RedirectResponse("/signin", 303)
    user = users.user_with_login(session, address)
    if user is None or not user.active:
        return render_page(request, "not_user.html", None, 403, address=address, provider=provider.label)
    security.sign_in(request, user)
    request.session[LAST_LOGIN] = address
    return RedirectResponse(security.safe_next(pending.get("next")), 303)


def _begin(provider: SignIn, redirect_uri: str, hint: str | None) -> tuple[str, dict[str, Any]]:
    # A provider whose begin() takes no hint yet (the port's optional parameter) starts without one.
    if hint and "login_hint" in inspect.signature(provider.begin).parameters:
        return provider.begin(redirect_uri, login_hint=hint)
    return provider.begin(redirect_uri)


@router.post("/signout")
def signout(request: Request, session: DbSession) -> Response:
    """Ends the session on the server too: a copy of the cookie (another tab, a stolen one) stops working."""
    uid = request.session.get("uid")
    found = users.active_user_and_tenant(session, uid, request.session.get("epoch")) if isinstance(uid, int) else None
    if found is not None:
        users.end_sessions(session, found[0])
        session.commit()
    last = request.session.get(LAST_LOGIN)
    request.session.clear()
    if isinstance(last, str):
        request.session[LAST_LOGIN] = last  # the next sign-in suggests the same account
    flash(request, "You are signed out.")
    return RedirectResponse("/signin", 303)
