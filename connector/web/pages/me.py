"""My settings: the capture switch (F7 level 3), the personal address and its vCard (F3), authorized
sender addresses (F8) and the personal exclusion list (F9)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlmodel import Session, col, select

from connector.crypto import TokenCipher
from connector.errors import InputError
from connector.models import Exclusion, User
from connector.routing.decision import Reason
from connector.services import console, tenant_access, users
from connector.web.pages.common import act
from connector.web.security import Viewer, context, csrf_guard, viewer
from connector.web.templating import render


def _user(session: Session, who: Viewer) -> User:
    found = session.get(User, who.user.id)
    assert found is not None  # `viewer` just read it
    return found


def router() -> APIRouter:
    api = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_guard)])

    @api.get("/me")
    def settings_page(request: Request, who: Viewer = Depends(viewer)) -> Response:
        settings = context(request).settings
        with Session(context(request).engine) as session:
            user = _user(session, who)
            problem = console.capture_problem(session, user)
            exclusions = session.exec(select(Exclusion).where(
                Exclusion.tenant_id == who.tenant.id, col(Exclusion.user_id).in_([user.id, None]))
                .order_by(col(Exclusion.pattern))).all()
            return render(
                request, "me.html", who, user=user, capture_on=problem is None,
                blocked=problem not in (None, Reason.CAPTURE_DISABLED), explanation=users.explain(problem),
                address=users.dropbox_address(user, settings), actions=users.action_addresses(user, settings),
                senders=users.senders(session, user), max_senders=settings.senders.max_extra_addresses,
                exclusions=exclusions)

    @api.post("/me/capture")
    def switch_capture(request: Request, enabled: str = Form(""), who: Viewer = Depends(viewer)) -> Response:
        def work(session: Session) -> str:
            user = _user(session, who)
            users.set_capture(session, user, enabled == "on")
            if enabled != "on":
                return "Email capture is off for you."
            cipher = TokenCipher.from_settings(context(request).settings)
            connected = tenant_access.connect_user(session, user, cipher)  # tenant-wide access: no consent
            names = ", ".join("Outlook" if m.provider == "graph" else "Gmail" for m in connected)
            return f"Email capture is on for you; {names} connected by your company." if connected else \
                "Email capture is on for you."
        return act(request, "/me", work)

    @api.get("/me/vcard")
    def vcard(request: Request, who: Viewer = Depends(viewer)) -> Response:
        card = users.vcard(who.user, context(request).settings)
        return Response(card, media_type="text/vcard; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="email-dropbox.vcf"'})

    @api.get("/me/address/regenerate")
    def confirm_regenerate(request: Request, who: Viewer = Depends(viewer)) -> Response:
        return render(request, "regenerate.html", who,
                      address=users.dropbox_address(who.user, context(request).settings))

    @api.post("/me/address/regenerate")
    def regenerate(request: Request, confirm: str = Form(""), who: Viewer = Depends(viewer)) -> Response:
        def work(session: Session) -> str:
            if confirm != "yes":
                raise InputError("tick the box to confirm that the old address should stop working")
            user = _user(session, who)
            old = users.dropbox_address(user, context(request).settings)
            users.regenerate_address(session, user)
            new = users.dropbox_address(user, context(request).settings)
            return f"Your new address is {new}. Mail to {old} is now refused."
        return act(request, "/me", work)

    @api.post("/me/senders")
    def add_sender(request: Request, email: str = Form(""), who: Viewer = Depends(viewer)) -> Response:
        def work(session: Session) -> str:
            row, code = users.add_sender(session, _user(session, who), email, context(request).settings)
            context(request).code_sender.send(who.user.email, row.email, code)  # inside: a failure rolls back
            return f"We sent a verification code to {row.email}. Enter it below to authorize that address."
        return act(request, "/me#senders", work)

    @api.post("/me/senders/verify")
    def verify_sender(request: Request, email: str = Form(""), code: str = Form(""),
                      who: Viewer = Depends(viewer)) -> Response:
        def work(session: Session) -> str:
            if not code.strip():
                raise InputError("enter the code we sent to that address")
            users.verify_sender(session, _user(session, who), email, code)
            return f"{email.strip().lower()} is now an authorized sender address."
        return act(request, "/me#senders", work)

    @api.post("/me/senders/remove")
    def remove_sender(request: Request, email: str = Form(""), who: Viewer = Depends(viewer)) -> Response:
        def work(session: Session) -> str:
            users.remove_sender(session, _user(session, who), email)
            return f"{email.strip().lower()} is no longer authorized."
        return act(request, "/me#senders", work)

    @api.post("/me/exclusions")
    def add_exclusion(request: Request, pattern: str = Form(""), who: Viewer = Depends(viewer)) -> Response:
        def work(session: Session) -> str:
            row = users.add_exclusion(session, who.tenant, pattern, _user(session, who))
            return f"{row.pattern} will never be treated as a contact in your mail."
        return act(request, "/me#exclusions", work)

    @api.post("/me/exclusions/remove")
    def remove_exclusion(request: Request, pattern: str = Form(""), who: Viewer = Depends(viewer)) -> Response:
        def work(session: Session) -> str:
            users.remove_exclusion(session, who.tenant, pattern, _user(session, who))
            return f"{pattern.strip().lower()} is off your exclusion list."
        return act(request, "/me#exclusions", work)

    return api
