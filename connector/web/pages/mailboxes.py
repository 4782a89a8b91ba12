"""Connecting Outlook or Gmail through the provider's consent page, reconnecting, disconnecting, health.

The consent itself belongs to the adapters (`context.consent_flows[provider]`): `begin` gives the URL
to send the browser to, `finish` turns the redirect back into token material. Their InputErrors
(consent denied, state mismatch) carry messages meant for the user and are shown as they are.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session, col, select

from connector.db import transaction
from connector.errors import InputError, ProviderError
from connector.models import Mailbox, User
from connector.services import console, mailboxes
from connector.web import security
from connector.web.pages.common import act
from connector.web.security import Viewer, csrf_guard, flash, viewer
from connector.web.templating import render

LABELS = {"graph": "Outlook", "gmail": "Gmail"}
VENDORS = {"graph": "Microsoft", "gmail": "Google"}


def _credentials(connected: object) -> str:
    # connector.ports.Connected names it `credentials`; the Gmail adapter's own result `credentials_json`.
    return str(getattr(connected, "credentials", None) or getattr(connected, "credentials_json", ""))


def _flows(request: Request) -> dict[str, object]:
    flows = security.context(request).consent_flows
    return {name: flows[name] for name in LABELS if name in flows}  # Outlook first, whatever the mapping order


def router(callback_paths: dict[str, str]) -> APIRouter:
    """``callback_paths``: provider → the redirect path registered with it (settings.<provider>.redirect_path)."""
    api = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_guard)])

    @api.get("/mailboxes")
    def page(request: Request, who: Viewer = Depends(viewer)) -> Response:
        with Session(security.context(request).engine) as session:
            rows = session.exec(select(Mailbox).where(Mailbox.user_id == who.user.id).order_by(col(Mailbox.id))).all()
            health = [mailboxes.health(m) for m in rows]
            user = session.get(User, who.user.id)
            assert user is not None
            problem = console.capture_problem(session, user)
        return render(request, "mailboxes.html", who, health=health, providers=list(_flows(request)),
                      labels=LABELS, vendors=VENDORS, problem=problem)

    @api.post("/mailboxes/connect/{provider}")
    def connect(provider: str, request: Request, login_hint: str = Form(""), who: Viewer = Depends(viewer)) -> Response:
        flow = security.context(request).consent_flows.get(provider)
        if flow is None or provider not in callback_paths:
            raise HTTPException(404, "This mail provider is not configured.")
        redirect_uri = security.external_url(request, callback_paths[provider])
        try:
            url, state = flow.begin(redirect_uri, login_hint.strip().lower() or who.user.email)
        except (InputError, ProviderError) as exc:
            flash(request, f"Could not start the connection with {VENDORS[provider]}: {exc}", "error")
            return RedirectResponse("/mailboxes", 303)
        security.put_secret(request, "consent", {"provider": provider, "state": state})
        return RedirectResponse(url, 303)

    def callback(provider: str, request: Request, who: Viewer) -> Response:
        pending = security.pop_secret(request, "consent")
        flow = security.context(request).consent_flows.get(provider)
        label = LABELS[provider]
        if flow is None or pending is None or pending.get("provider") != provider:
            flash(request, f"This {label} connection was not started here, or it has expired. "
                  "Please click Connect again.", "error")
            return RedirectResponse("/mailboxes", 303)
        try:
            connected = flow.finish(pending["state"], dict(request.query_params))
            with transaction(security.context(request).engine) as session:
                user = session.get(User, who.user.id)
                assert user is not None
                mailbox = console.connect_mailbox(session, user, provider, connected.address, _credentials(connected),
                                                  security.cipher(request), connected.provider_user_id)
                address = mailbox.address
        except InputError as exc:
            flash(request, f"{label} was not connected: {exc}", "error")
        except ProviderError as exc:
            flash(request, f"{VENDORS[provider]} did not complete the connection: {exc}. Please try again.", "error")
        else:
            flash(request, f"{label} mailbox {address} is connected. New mail is captured from now on.")
        return RedirectResponse("/mailboxes", 303)

    def callback_route(provider: str):  # type: ignore[no-untyped-def]
        def handler(request: Request, who: Viewer = Depends(viewer)) -> Response:
            return callback(provider, request, who)
        return handler

    for provider, path in callback_paths.items():
        api.add_api_route(path, callback_route(provider), methods=["GET"], name=f"consent_callback_{provider}")

    @api.post("/mailboxes/{mailbox_id}/disconnect")
    def disconnect(mailbox_id: int, request: Request, who: Viewer = Depends(viewer)) -> Response:
        def work(session: Session) -> str:
            mailbox = console.own_mailbox(session, who.user, mailbox_id)
            mailboxes.disconnect(session, mailbox)
            return f"{mailbox.address} is disconnected: no more mail is read from it."
        return act(request, "/mailboxes", work, missing_is_404=True)

    return api
