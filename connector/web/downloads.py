"""Attachment downloads, the same for the console and the JSON API: always a download, never rendered, and
audited (`attachment.downloaded`: who, when, which file)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi.responses import Response
from sqlmodel import Session

from connector.config import Settings
from connector.models import Tenant
from connector.services import access_log, activities
from connector.services.visibility import Reader
from connector.storage.factory import blob_store
from connector.web.errors import missing_as_404

# Attachments are always downloaded, never rendered by the browser on our origin.
_INERT = {"Content-Security-Policy": "sandbox; default-src 'none'", "X-Content-Type-Options": "nosniff"}


def attachment_download(session: Session, settings: Settings, tenant: Tenant, attachment_id: int, reader: Reader,
                        *, by: str, via: str) -> Response:
    with missing_as_404("There is nothing here."):
        found, content, activity = activities.get_attachment(session, tenant, attachment_id, reader,
                                                             blob_store(settings, session))
    access_log.downloaded(session, by, found, activity, via)
    session.commit()  # the audit entry is written before a byte leaves
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in found.name)
    disposition = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(found.name)}"
    return Response(content, media_type=found.content_type or "application/octet-stream",
                    headers={"Content-Disposition": disposition, **_INERT})
