"""My settings: the capture switch (F7 level 3), the personal address and its vCard (F3), authorized
sender addresses (F8) and the personal exclusion list (F9)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from connector.crypto import TokenCipher
from connector.errors import InputError
from connector.routing.decision import Reason
from connector.services import permissions, tenant_access, users, verification
from connector.web.deps import AppSettings, Context, CurrentUser, DbSession
from connector.web.forms import submit_form
from connector.web.security import csrf_guard
from connector.web.templating import render_page

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_guard)])


@router.get("/me")
def settings_page(request: Request, session: DbSession, who: CurrentUser, settings: AppSettings) -> Response:
    user = who.user
    problem = permissions.capture_problem(session, user)
    return render_page(
        request, "me.html", who, user=user, capture_on=problem is None,
        blocked=problem not in (None, Reason.CAPTURE_DISABLED), explanation=users.explain(problem),
        address=users.dropbox_address(user, settings), actions=users.action_addresses(user, settings),
        senders=users.senders(session, user), max_senders=settings.senders.max_extra_addresses,
        exclusions=users.exclusions_applying_to(session, who.tenant, user))


@router.post("/me/capture")
def switch_capture(request: Request, session: DbSession, who: CurrentUser, settings: AppSettings, context: Context,
                   enabled: Annotated[str, Form()] = "") -> Response:
    def work() -> str:
        users.set_capture(session, who.user, enabled == "on")
        if enabled != "on":
            return "Email capture is off for you."
        cipher = TokenCipher.from_settings(settings)
        connected = tenant_access.connect_user(session, who.user, cipher, context.directory())  # no consent
        names = ", ".join("Outlook" if m.provider == "graph" else "Gmail" for m in connected)
        return f"Email capture is on for you; {names} connected by your company." if connected else \
            "Email capture is on for you."
    return submit_form(request, session, "/me", work)


@router.get("/me/vcard")
def vcard(who: CurrentUser, settings: AppSettings) -> Response:
    card = users.vcard(who.user, settings)
    return Response(card, media_type="text/vcard; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="email-dropbox.vcf"'})


@router.get("/me/address/regenerate")
def confirm_regenerate(request: Request, who: CurrentUser, settings: AppSettings) -> Response:
    return render_page(request, "regenerate.html", who, address=users.dropbox_address(who.user, settings))


@router.post("/me/address/regenerate")
def regenerate(request: Request, session: DbSession, who: CurrentUser, settings: AppSettings,
               confirm: Annotated[str, Form()] = "") -> Response:
    def work() -> str:
        if confirm != "yes":
            raise InputError("tick the box to confirm that the old address should stop working")
        old = users.dropbox_address(who.user, settings)
        users.regenerate_address(session, who.user)
        new = users.dropbox_address(who.user, settings)
        return f"Your new address is {new}. Mail to {old} is now refused."
    return submit_form(request, session, "/me", work)


@router.post("/me/senders")
def add_sender(request: Request, session: DbSession, who: CurrentUser, context: Context,
               email: Annotated[str, Form()] = "") -> Response:
    def work() -> str:
        row, code = users.add_sender(session, who.user, email, context.settings, context.clock())
        context.code_sender.send(who.user.email, row.email, code)  # before the commit: a failure rolls back
        return f"We sent a verification code to {row.email}. Enter it below to authorize that address."
    return submit_form(request, session, "/me#senders", work)


@router.post("/me/senders/verify")
def verify_sender(request: Request, session: DbSession, who: CurrentUser, context: Context,
                  email: Annotated[str, Form()] = "", code: Annotated[str, Form()] = "") -> Response:
    def work() -> str:
        if not code.strip():
            raise InputError("enter the code we sent to that address")
        try:
            users.verify_sender(session, who.user, email, code, context.clock())
        except verification.WrongCode:
            session.commit()  # the guess counts, although the form shows an error (and rolls back)
            raise
        return f"{email.strip().lower()} is now an authorized sender address."
    return submit_form(request, session, "/me#senders", work)


@router.post("/me/senders/remove")
def remove_sender(request: Request, session: DbSession, who: CurrentUser,
                  email: Annotated[str, Form()] = "") -> Response:
    def work() -> str:
        users.remove_sender(session, who.user, email)
        return f"{email.strip().lower()} is no longer authorized."
    return submit_form(request, session, "/me#senders", work)


@router.post("/me/exclusions")
def add_exclusion(request: Request, session: DbSession, who: CurrentUser,
                  pattern: Annotated[str, Form()] = "") -> Response:
    def work() -> str:
        row = users.add_exclusion(session, who.tenant, pattern, who.user)
        return f"{row.pattern} will never be treated as a contact in your mail."
    return submit_form(request, session, "/me#exclusions", work)


@router.post("/me/exclusions/remove")
def remove_exclusion(request: Request, session: DbSession, who: CurrentUser,
                     pattern: Annotated[str, Form()] = "") -> Response:
    def work() -> str:
        users.remove_exclusion(session, who.tenant, pattern, who.user)
        return f"{pattern.strip().lower()} is off your exclusion list."
    return submit_form(request, session, "/me#exclusions", work)
