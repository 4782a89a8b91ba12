"""The JSON API under /api/v1: records, communications, unassigned mail, mailboxes, the audit.

Authenticated by per-tenant API tokens (`Authorization: Bearer bcc_…`, created under Admin → API
tokens). A token sees exactly its company: another company's ids answer 404 like unknown ones.
The endpoints' function names are the OpenAPI operation ids: renaming one changes the published schema.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from connector.errors import InputError
from connector.services import access_log, activities, mailboxes, unassigned, views
from connector.services.communications import shown
from connector.services.communications_feed import communications_feed
from connector.services.host_records import changed_records
from connector.services.paging import MAX_LIMIT
from connector.services.records import get_record, record_address
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
from connector.web.api_paging import NEXT_LINK, Cursor, Limit, Since, answered_as_http, link_next
from connector.web.deps import ApiCaller, AppSettings, DbSession
from connector.web.downloads import attachment_download
from connector.web.errors import missing_as_404
from connector.web.readers import ApiReader, api_by

NOT_FOUND = {404: {"description": "No such thing in this company"}}

router = APIRouter(prefix="/api/v1", tags=["api"], responses={401: {"description": "Missing or invalid token"}})


@router.get("/records", response_model=list[RecordOut], responses={200: {"headers": NEXT_LINK}},
            summary="Find records, oldest change first, paged: also the host system's change feed")
def records(request: Request, response: Response, session: DbSession, who: ApiCaller, reader: ApiReader,
            settings: AppSettings, kind: str | None = None, q: str = "", updated_since: Since = None,
            include_archived: bool = False, cursor: Cursor = None, limit: Limit = 100) -> list[RecordOut]:
    with answered_as_http():
        page = changed_records(session, who.tenant, kind=kind, query=q, updated_since=updated_since,
                               include_archived=include_archived, cursor=cursor, limit=limit, reader=reader)
    link_next(request, response, page)
    return [RecordOut.of(r, record_address(r, who.tenant, settings).address) for r in page.items]


@router.get("/records/{record_id}", response_model=RecordOut, responses=NOT_FOUND, summary="One record")
def record(record_id: int, session: DbSession, who: ApiCaller, reader: ApiReader, settings: AppSettings) -> RecordOut:
    with missing_as_404():
        found = get_record(session, who.tenant, record_id, reader)
    return RecordOut.of(found, record_address(found, who.tenant, settings).address)


@router.get("/records/{record_id}/communications", response_model=list[ThreadOut],
            responses={**NOT_FOUND, 200: {"headers": NEXT_LINK}},
            summary="The record's Communications tab: threads newest first, messages oldest first, paged")
def communications(record_id: int, request: Request, response: Response, session: DbSession, who: ApiCaller,
                   reader: ApiReader, cursor: Cursor = None,
                   limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="threads per page")] = 50,
                   q: Annotated[str, Query(max_length=500, description="words to find in the subject, sender, "
                                           "participants or text, as the console's search box")] = ""
                   ) -> list[ThreadOut]:
    with missing_as_404():
        found = get_record(session, who.tenant, record_id, reader)
    with answered_as_http():
        page = communications_feed(session, who.tenant, found, cursor, limit, reader, q)
    access_log.viewed(session, who.tenant.id, api_by(who, reader), shown(page.items), "api", record_id=record_id)
    session.commit()
    link_next(request, response, page)
    return [ThreadOut.of(t) for t in page.items]


@router.get("/attachments/{attachment_id}", response_class=Response, summary="Download an attachment",
            responses={**NOT_FOUND, 200: {"content": {"application/octet-stream": {
                "schema": {"type": "string", "format": "binary"}, "example": "%PDF-1.4 …"}}}})
def download(attachment_id: int, session: DbSession, who: ApiCaller, reader: ApiReader,
             settings: AppSettings) -> Response:
    return attachment_download(session, settings, who.tenant, attachment_id, reader, by=api_by(who, reader),
                               via="api")


@router.post("/activities/{activity_id}/unlog", response_model=UnlogOut, responses=NOT_FOUND,
             summary="Take a logged e-mail off its records (kept, audited as 'unlogged')")
def unlog(activity_id: int, session: DbSession, who: ApiCaller, reader: ApiReader) -> UnlogOut:
    try:
        with missing_as_404():  # first: NotFound is an InputError too
            activity = activities.unlog(session, who.tenant, activity_id, by=api_by(who, reader), reader=reader)
    except InputError as exc:  # the acting user neither owns it nor administers
        raise HTTPException(403, str(exc)) from exc
    assert activity.id is not None and activity.unlogged_at is not None
    session.commit()
    return UnlogOut(activity_id=activity.id, unlogged_at=activity.unlogged_at)


@router.get("/unassigned", response_model=list[UnassignedOut], summary="Mail waiting to be linked to contacts")
def unassigned_list(session: DbSession, who: ApiCaller) -> list[UnassignedOut]:
    return [UnassignedOut.of(r) for r in views.unassigned(session, who.tenant)]


@router.post("/unassigned/{unassigned_id}/link", response_model=LinkOut, responses=NOT_FOUND,
             summary="File an unassigned e-mail under contacts")
def link(unassigned_id: int, body: LinkIn, session: DbSession, who: ApiCaller, settings: AppSettings) -> LinkOut:
    with missing_as_404():
        unassigned.get_unassigned(session, who.tenant, unassigned_id)
    try:
        activity_id = unassigned.link(session, who.tenant, unassigned_id, body.contacts, settings)
    except InputError as exc:  # an unknown contact, already linked…
        raise HTTPException(422, str(exc)) from exc
    session.commit()
    return LinkOut(activity_id=activity_id)


@router.get("/mailboxes", response_model=list[MailboxOut], summary="Connected mailboxes and their health")
def mailbox_list(session: DbSession, who: ApiCaller) -> list[MailboxOut]:
    return [MailboxOut.of(h) for h in mailboxes.all_health(session, who.tenant.id)]


@router.get("/mailboxes/{mailbox_id}", response_model=MailboxOut, responses=NOT_FOUND, summary="One mailbox")
def mailbox(mailbox_id: int, session: DbSession, who: ApiCaller) -> MailboxOut:
    with missing_as_404():
        found = mailboxes.get_mailbox(session, mailbox_id, who.tenant.id)
    return MailboxOut.of(mailboxes.health(found))


@router.get("/audit", response_model=list[AuditOut], summary="The audit log: why mail was or was not logged")
def audit(session: DbSession, who: ApiCaller, reader: ApiReader,
          action: Annotated[str | None, Query(description="refused, unassigned, unlogged, …")] = None,
          limit: Annotated[int, Query(ge=1, le=1000)] = 200,
          message_id: Annotated[str | None, Query(
              description="Only what concerns one e-mail (its Message-ID): what became of it, who read it")] = None,
          ) -> list[AuditOut]:
    return [AuditOut.of(e) for e in views.tenant_audit(session, who.tenant, action, limit, reader=reader,
                                                       message=message_id)]
