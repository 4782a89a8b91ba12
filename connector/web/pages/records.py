"""Records and their Communications tab, attachments, unlogging, the unassigned list (F12), the audit."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import Response
from sqlmodel import Session

from connector.errors import InputError, NotFound
from connector.models import Record, Tenant
from connector.services import console, unassigned, views
from connector.web.pages.common import act
from connector.web.security import Viewer, context, csrf_guard, safe_next, viewer
from connector.web.templating import render

AUDIT_ACTIONS = ("refused", "unassigned", "unlogged", "linked", "logged", "duplicate", "webhook_rejected")
# Attachments are always downloaded, never rendered by the browser on our origin.
_INERT = {"Content-Security-Policy": "sandbox; default-src 'none'", "X-Content-Type-Options": "nosniff"}


def attachment_response(session: Session, tenant: Tenant, attachment_id: int) -> Response:
    try:
        found, blob = console.attachment(session, tenant, attachment_id)
    except NotFound as exc:
        raise HTTPException(404, "There is nothing here.") from exc
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in found.name)
    disposition = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(found.name)}"
    return Response(blob.content, media_type=found.content_type or "application/octet-stream",
                    headers={"Content-Disposition": disposition, **_INERT})


def router() -> APIRouter:
    api = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_guard)])

    @api.get("/records")
    def records_page(request: Request, kind: str = "", q: str = "", who: Viewer = Depends(viewer)) -> Response:
        with Session(context(request).engine) as session:
            try:
                found = console.find_records(session, who.tenant, kind or None, q)
            except InputError:
                found, kind = console.find_records(session, who.tenant, None, q), ""
        return render(request, "records.html", who, records=found, kind=kind, q=q,
                      kinds=("matter", "project", "customer", "contact", "lead", "case", "opportunity", "task"))

    @api.get("/records/{record_id}")
    def record_page(record_id: int, request: Request, who: Viewer = Depends(viewer)) -> Response:
        with Session(context(request).engine) as session:
            try:
                record = console.get_record(session, who.tenant, record_id)
            except NotFound as exc:
                raise HTTPException(404, "There is nothing here.") from exc
            customer = session.get(Record, record.customer_id) if record.customer_id else None
            threads = views.communications(session, who.tenant, record)
        address = console.record_address(record, who.tenant, context(request).settings)
        return render(request, "record.html", who, record=record, customer=customer, threads=threads,
                      address=address, messages=sum(len(t.messages) for t in threads))

    @api.get("/attachments/{attachment_id}")
    def download(attachment_id: int, request: Request, who: Viewer = Depends(viewer)) -> Response:
        with Session(context(request).engine) as session:
            return attachment_response(session, who.tenant, attachment_id)

    @api.get("/activities/{activity_id}/unlog")
    def confirm_unlog(activity_id: int, request: Request, back: str = "", who: Viewer = Depends(viewer)) -> Response:
        with Session(context(request).engine) as session:
            try:
                activity = console.get_activity(session, who.tenant, activity_id)
            except NotFound as exc:
                raise HTTPException(404, "There is nothing here.") from exc
        return render(request, "unlog.html", who, activity=activity, back=safe_next(back))

    @api.post("/activities/{activity_id}/unlog")
    def unlog(activity_id: int, request: Request, back: str = Form(""), who: Viewer = Depends(viewer)) -> Response:
        def work(session: Session) -> str:
            activity = console.unlog(session, who.tenant, activity_id, who.user.email, who.user)
            return f"“{activity.subject}” is no longer logged. The audit keeps a note of it."
        return act(request, safe_next(back), work, missing_is_404=True)

    @api.get("/unassigned")
    def unassigned_page(request: Request, who: Viewer = Depends(viewer)) -> Response:
        with Session(context(request).engine) as session:
            rows = views.unassigned(session, who.tenant)
        return render(request, "unassigned.html", who, rows=rows)

    @api.post("/unassigned/{unassigned_id}/link")
    def link(unassigned_id: int, request: Request, contacts: list[str] = Form([]), other: str = Form(""),
             who: Viewer = Depends(viewer)) -> Response:
        emails = [e.strip().lower() for e in [*contacts, *other.replace(";", ",").split(",")] if e.strip()]

        with Session(context(request).engine) as session:
            try:
                console.get_unassigned(session, who.tenant, unassigned_id)
            except NotFound as exc:
                raise HTTPException(404, "There is nothing here.") from exc

        def work(session: Session) -> str:
            unassigned.link(session, who.tenant, unassigned_id, list(dict.fromkeys(emails)),
                            context(request).settings, by=who.user)
            return f"Linked to {', '.join(dict.fromkeys(emails))}."
        return act(request, "/unassigned", work)

    @api.get("/audit")
    def audit_page(request: Request, action: str = "refused", who: Viewer = Depends(viewer)) -> Response:
        action = action if action in (*AUDIT_ACTIONS, "all") else "refused"
        with Session(context(request).engine) as session:
            entries = console.tenant_audit(session, who.tenant, None if action == "all" else action,
                                           visible_to=None if who.admin else who.user)
        return render(request, "audit.html", who, entries=entries, action=action, actions=AUDIT_ACTIONS)

    return api
