"""The JSON API under /api/v1: records, communications, unassigned mail, mailboxes, the audit.

Authenticated by per-tenant API tokens (`Authorization: Bearer bcc_…`, created under Admin → API
tokens). A token sees exactly its company: another company's ids answer 404 like unknown ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Security
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from connector.db import transaction
from connector.errors import InputError, NotFound
from connector.models import Record, Tenant
from connector.services import api_tokens, console, mailboxes, unassigned, views
from connector.web.api_models import (
    AuditOut,
    LinkIn,
    LinkOut,
    MailboxOut,
    RecordOut,
    ThreadOut,
    UnassignedOut,
    UnlogOut,
)
from connector.web.pages.records import attachment_response
from connector.web.security import context

bearer = HTTPBearer(auto_error=False, description="A company's API token (Admin → API tokens in the console)")
NOT_FOUND = {404: {"description": "No such thing in this company"}}


@dataclass(frozen=True)
class Caller:
    tenant: Tenant
    token_name: str


def caller(request: Request, credentials: HTTPAuthorizationCredentials | None = Security(bearer)) -> Caller:
    unauthorized = HTTPException(401, "a valid API token is required: Authorization: Bearer bcc_…",
                                 headers={"WWW-Authenticate": 'Bearer realm="bcc-capture"'})
    if credentials is None:
        raise unauthorized
    with transaction(context(request).engine) as session:
        token = api_tokens.authenticate(session, credentials.credentials, context(request).clock())
        tenant = session.get(Tenant, token.tenant_id) if token else None
        if token is None or tenant is None:
            raise unauthorized
        return Caller(tenant, token.name)


def _not_found(exc: NotFound) -> HTTPException:
    return HTTPException(404, str(exc))


def router() -> APIRouter:
    api = APIRouter(prefix="/api/v1", tags=["api"], responses={401: {"description": "Missing or invalid token"}})

    def session(request: Request) -> Session:
        return Session(context(request).engine, expire_on_commit=False)

    def address(request: Request, who: Caller, record: Record) -> str | None:
        return console.record_address(record, who.tenant, context(request).settings).address

    @api.get("/records", response_model=list[RecordOut], summary="Find records")
    def records(request: Request, kind: str | None = None, q: str = "", limit: int = Query(100, ge=1, le=500),
                who: Caller = Depends(caller)) -> list[RecordOut]:
        with session(request) as s:
            try:
                found = console.find_records(s, who.tenant, kind, q, limit)
            except InputError as exc:
                raise HTTPException(422, str(exc)) from exc
            return [RecordOut.of(r, address(request, who, r)) for r in found]

    @api.get("/records/{record_id}", response_model=RecordOut, responses=NOT_FOUND, summary="One record")
    def record(record_id: int, request: Request, who: Caller = Depends(caller)) -> RecordOut:
        with session(request) as s:
            try:
                found = console.get_record(s, who.tenant, record_id)
            except NotFound as exc:
                raise _not_found(exc) from exc
            return RecordOut.of(found, address(request, who, found))

    @api.get("/records/{record_id}/communications", response_model=list[ThreadOut], responses=NOT_FOUND,
             summary="The record's Communications tab: threads newest first, messages oldest first")
    def communications(record_id: int, request: Request, who: Caller = Depends(caller)) -> list[ThreadOut]:
        with session(request) as s:
            try:
                found = console.get_record(s, who.tenant, record_id)
            except NotFound as exc:
                raise _not_found(exc) from exc
            return [ThreadOut.of(t) for t in views.communications(s, who.tenant, found)]

    @api.get("/attachments/{attachment_id}", response_class=Response, summary="Download an attachment",
             responses={**NOT_FOUND, 200: {"content": {"application/octet-stream": {}}}})
    def download(attachment_id: int, request: Request, who: Caller = Depends(caller)) -> Response:
        with session(request) as s:
            return attachment_response(s, who.tenant, attachment_id)

    @api.post("/activities/{activity_id}/unlog", response_model=UnlogOut, responses=NOT_FOUND,
              summary="Take a logged e-mail off its records (kept, audited as 'unlogged')")
    def unlog(activity_id: int, request: Request, who: Caller = Depends(caller)) -> UnlogOut:
        with transaction(context(request).engine) as s:
            try:
                activity = console.unlog(s, who.tenant, activity_id, by=f"API token {who.token_name}")
            except NotFound as exc:
                raise _not_found(exc) from exc
            assert activity.id is not None and activity.unlogged_at is not None
            return UnlogOut(activity_id=activity.id, unlogged_at=activity.unlogged_at)

    @api.get("/unassigned", response_model=list[UnassignedOut], summary="Mail waiting to be linked to contacts")
    def unassigned_list(request: Request, who: Caller = Depends(caller)) -> list[UnassignedOut]:
        with session(request) as s:
            return [UnassignedOut.of(r) for r in views.unassigned(s, who.tenant)]

    @api.post("/unassigned/{unassigned_id}/link", response_model=LinkOut, responses=NOT_FOUND,
              summary="File an unassigned e-mail under contacts")
    def link(unassigned_id: int, body: LinkIn, request: Request, who: Caller = Depends(caller)) -> LinkOut:
        with transaction(context(request).engine) as s:
            try:
                console.get_unassigned(s, who.tenant, unassigned_id)
            except NotFound as exc:
                raise _not_found(exc) from exc
            try:
                activity_id = unassigned.link(s, who.tenant, unassigned_id, body.contacts, context(request).settings)
            except InputError as exc:  # an unknown contact, already linked…
                raise HTTPException(422, str(exc)) from exc
            return LinkOut(activity_id=activity_id)

    @api.get("/mailboxes", response_model=list[MailboxOut], summary="Connected mailboxes and their health")
    def mailbox_list(request: Request, who: Caller = Depends(caller)) -> list[MailboxOut]:
        with session(request) as s:
            return [MailboxOut.of(h) for h in mailboxes.all_health(s, who.tenant.id)]

    @api.get("/mailboxes/{mailbox_id}", response_model=MailboxOut, responses=NOT_FOUND, summary="One mailbox")
    def mailbox(mailbox_id: int, request: Request, who: Caller = Depends(caller)) -> MailboxOut:
        with session(request) as s:
            try:
                found = mailboxes.get_mailbox(s, mailbox_id, who.tenant.id)
            except NotFound as exc:
                raise _not_found(exc) from exc
            return MailboxOut.of(mailboxes.health(found))

    @api.get("/audit", response_model=list[AuditOut], summary="The audit log: why mail was or was not logged")
    def audit(request: Request, action: str | None = Query(None, description="refused, unassigned, unlogged, …"),
              limit: int = Query(200, ge=1, le=1000), who: Caller = Depends(caller)) -> list[AuditOut]:
        with session(request) as s:
            return [AuditOut.of(e) for e in console.tenant_audit(s, who.tenant, action, limit)]

    return api

