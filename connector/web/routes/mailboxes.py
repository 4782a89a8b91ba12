"""Connecting Outlook or Gmail through the provider's consent page, reconnecting, disconnecting, health.

The consent itself belongs to the adapters (`context.consent_flows[provider]`): `begin` gives the URL
to send the browser to, `finish` turns the redirect back into token material. Their InputErrors
(consent denied, state mismatch) carry messages meant for the user and are shown as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from connector.config import Settings
from connector.crypto import TokenCipher
from connector.errors import InputError, ProviderError
from connector.services import mailboxes, permissions, user_mailboxes
from connector.web import form_post, security
from connector.web.context import AppContext
from connector.web.deps import Context, CurrentUser, DbSession
from connector.web.forms import submit_form
from connector.web.security import Viewer, csrf_guard, flash
from connector.web.templating import render_page

LABELS = {"graph": "Outlook", "gmail": "Gmail"}
VENDORS = {"graph": "Microsoft", "gmail": "Google"}

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_guard)])


def _credentials(connected: object) -> str:
    # connector.ports.Connected names it `credentials`; the Gmail adapter's own result `credentials_json`.
    return str(getattr(connected, "credentials", None) or getattr(connected, "credentials_json", ""))


def _redirect_path(settings: Settings, provider: str) -> str:
    """The path registered with the provider as the consent redirect (settings.<provider>.redirect_path)."""
    return str(getattr(settings, provider).redirect_path)


@router.get("/mailboxes")
def page(request: Request, session: DbSession, who: CurrentUser, context: Context) -> Response:
    health = user_mailboxes.own_mailbox_health(session, who.user)
    problem = permissions.capture_problem(session, who.user)
    flows = [name for name in LABELS if name in context.consent_flows]  # Outlook first, whatever the mapping order
    return render_page(request, "mailboxes.html", who, health=health, providers=flows, labels=LABELS,
                       vendors=VENDORS, problem=problem)


@router.post("/mailboxes/connect/{provider}")
def connect(provider: str, request: Request, who: CurrentUser, context: Context,
            login_hint: Annotated[str, Form()] = "") -> Response:
    flow = context.consent_flows.get(provider)
    if flow is None or provider not in LABELS:
        raise HTTPException(404, "This mail provider is not configured.")
    redirect_uri = security.external_url(request, _redirect_path(context.settings, provider))
    try:
        url, state = flow.begin(redirect_uri, login_hint.strip().lower() or who.user.email)
    except (InputError, ProviderError) as exc:
        flash(request, f"Could not start the connection with {VENDORS[provider]}: {exc}", "error")
        return RedirectResponse("/mailboxes", 303)
    security.put_secret(request, "consent", {"provider": provider, "state": state})
    return RedirectResponse(url, 303)


@router.post("/mailboxes/{mailbox_id}/disconnect")
def disconnect(mailbox_id: int, request: Request, session: DbSession, who: CurrentUser) -> Response:
    def work() -> str:
        mailbox = user_mailboxes.get_own_mailbox(session, who.user, mailbox_id)
        mailboxes.disconnect(session, mailbox)
        return f"{mailbox.address} is disconnected: no more mail is read from it."
    return submit_form(request, session, "/mailboxes", work, missing_is_404=True)


# ------------------------------------------------------------------------------ the consent redirect
def include_consent_callbacks(app: FastAPI, settings: Settings) -> None:
    """Add the routes the providers redirect back to after consent.

    Their paths are settings (each registered with its provider), so they go on the app being built:
    the module's `router` is shared by every app and must stay the same for all of them.
    """
    for provider in LABELS:
        app.add_api_route(_redirect_path(settings, provider), _consent_callback(provider), methods=["GET"],
                          name=f"consent_callback_{provider}", include_in_schema=False,
                          dependencies=[Depends(csrf_guard)])
        app.add_api_route(_redirect_path(settings, provider), form_post.relay, methods=["POST"],
                          name=f"consent_answer_{provider}", include_in_schema=False)


def _consent_callback(provider: str) -> Callable[..., Response]:
    def consent_callback(request: Request, session: DbSession, who: CurrentUser, context: Context) -> Response:
        return finish_consent(provider, request, session, who, context)
    return consent_callback


def finish_consent(provider: str, request: Request, session: Session, who: Viewer, context: AppContext) -> Response:
    """Turn the provider's redirect into a connected mailbox, or say on /mailboxes why not."""
    pending = security.pop_secret(request, "consent")
    flow = context.consent_flows.get(provider)
    label = LABELS[provider]
    if flow is None or pending is None or pending.get("provider") != provider:
        flash(request, f"This {label} connection was not started here, or it has expired. "
              "Please click Connect again.", "error")
        return RedirectResponse("/mailboxes", 303)
    try:
        connected = flow.finish(pending["state"], form_post.provider_answer(request))
        mailbox = user_mailboxes.connect_after_consent(
            session, who.user, provider, connected.address, _credentials(connected),
            TokenCipher.from_settings(context.settings), connected.provider_user_id)
        session.commit()
    except InputError as exc:
        session.rollback()
        flash(request, f"{label} was not connected: {exc}", "error")
    except ProviderError as exc:
        session.rollback()
        flash(request, f"{VENDORS[provider]} did not complete the connection: {exc}. Please try again.", "error")
    else:
        flash(request, f"{label} mailbox {mailbox.address} is connected. New mail is captured from now on.")
    return RedirectResponse("/mailboxes", 303)
