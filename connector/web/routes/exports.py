"""Export from the console and the API: a matter's or a contact's mail (optionally a period of it) as the zip
the CLI writes (connector/services/export.py), streamed while it is written and audited as `exported`."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import StreamingResponse
from sqlmodel import Session

from connector.models import AuditEntry, Record, RecordKind, Tenant
from connector.services import records
from connector.services.export import Scope, export
from connector.services.visibility import Reader
from connector.storage.factory import blob_store
from connector.web.context import AppContext
from connector.web.deps import ApiCaller, Context, CurrentUser, DbSession
from connector.web.errors import missing_as_404
from connector.web.readers import ApiReader, ConsoleReader
from connector.web.security import csrf_guard
from connector.web.streaming import stream_written

console = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_guard)])
api = APIRouter(prefix="/api/v1", tags=["api"], responses={401: {"description": "Missing or invalid token"}})
Since = Annotated[date | None, Query(description="From this day (YYYY-MM-DD)")]
Until = Annotated[date | None, Query(description="Up to this day, included")]
_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]+")


def _scope(record: Record, since: date | None, until: date | None) -> Scope:
    if since and until and since > until:
        raise HTTPException(422, "since is after until")
    if record.kind == RecordKind.MATTER:
        return Scope(matter=record.number, since=since, until=until)
    if record.kind in (RecordKind.CONTACT, RecordKind.LEAD) and record.email:
        return Scope(contact=record.email, since=since, until=until)
    raise HTTPException(422, "only a matter's or a contact's mail can be exported")


def _zip(context: AppContext, tenant: Tenant, record: Record, scope: Scope, reader: Reader, by: str
         ) -> StreamingResponse:
    def write(session: Session, out: object) -> None:
        export(session, tenant, scope, out, by=by, reader=reader,  # type: ignore[arg-type]
               store=blob_store(context.settings, session))

    def aborted(session: Session) -> None:
        session.add(AuditEntry(tenant_id=tenant.id, action="export_interrupted", reason=record.kind,
                               detail={"by": by, "record": record.id}))
    name = _UNSAFE.sub("-", f"{record.kind}-{record.number or record.email}").strip("-") or "export"
    return StreamingResponse(stream_written(context.engine, write, aborted), media_type="application/zip",
                             headers={"Content-Disposition": f'attachment; filename="{name}.zip"',
                                      "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})


@console.get("/records/{record_id}/export.zip")
def console_export(record_id: int, session: DbSession, who: CurrentUser, reader: ConsoleReader, context: Context,
                   since: Since = None, until: Until = None) -> StreamingResponse:
    with missing_as_404():
        record = records.get_record(session, who.tenant, record_id, reader)
    return _zip(context, who.tenant, record, _scope(record, since, until), reader, f"{who.user.email} (console)")


@api.get("/export/records/{record_id}", response_class=StreamingResponse, summary="Export a matter's or a "
         "contact's mail: original .eml files, attachments, a manifest with SHA-256s (a zip, streamed)",
         responses={404: {"description": "No such record in this company"},
                    422: {"description": "Not a matter or a contact, or since after until"},
                    200: {"content": {"application/zip": {
                        "schema": {"type": "string", "format": "binary"},
                        "example": "PK… (messages/0001.eml, manifest.csv, manifest.json)"}}}})
def api_export(record_id: int, session: DbSession, who: ApiCaller, reader: ApiReader, context: Context,
               since: Since = None, until: Until = None) -> StreamingResponse:
    with missing_as_404():
        record = records.get_record(session, who.tenant, record_id, reader)
    by = f"API token {who.token_name}" + (f" for {reader.email}" if reader.email else "")
    return _zip(context, who.tenant, record, _scope(record, since, until), reader, by)
