"""Export: a matter's (or a contact's, a period's) mail as it was received, for a court, a client or an auditor.

The zip holds, per activity, the original `.eml` byte for byte as first received (the raw MIME kept at
filing time), its attachments as files beside it, and a manifest in CSV and JSON: message id, date, from,
to, cc, subject, filed under, sources and the SHA-256 of every file. It is written entry by entry to the
output stream, one message in memory at a time. The export itself is audited (who, what, how many).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import IO, Any

from sqlmodel import Session, col, func, select

from connector.errors import InputError
from connector.models import (
    Activity,
    ActivityLink,
    ActivitySource,
    Attachment,
    AuditEntry,
    Participant,
    Record,
    RecordKind,
    Tenant,
)
from connector.models.mail import RawMessage
from connector.services.visibility import COMPANY, Reader, activity_filter, record_filter
from connector.storage.factory import deployment_store
from connector.storage.ports import BlobStore

_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]+')
CSV_COLUMNS = ("message_id", "date", "from", "to", "cc", "subject", "filed_under", "sources", "file", "kind",
               "sha256", "size")


@dataclass(frozen=True)
class Scope:
    """What to export: a matter (by number), a contact (by address), a period; at least a matter or a contact."""

    matter: str | None = None
    contact: str | None = None
    since: date | None = None
    until: date | None = None  # inclusive


@dataclass
class ExportResult:
    messages: int = 0
    files: int = 0
    without_raw: list[str] = field(default_factory=list)  # message ids whose raw MIME was never kept


def export(session: Session, tenant: Tenant, scope: Scope, out: IO[bytes], *, by: str = "",
           reader: Reader = COMPANY, store: BlobStore | None = None) -> ExportResult:
    """Write the zip of every activity in ``scope`` that ``reader`` may read to ``out`` (the content read from
    ``store``, by default the deployment's)."""
    store = store or deployment_store(session)
    result = ExportResult()
    manifest: list[dict[str, Any]] = []
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for number, activity in enumerate(_activities(session, tenant, scope, reader), start=1):
            entry = _describe(session, activity)
            folder = f"{number:05d} {_safe(activity.subject)[:60]}".strip()
            entry["files"] = _write_files(session, store, archive, activity, folder, result)
            manifest.append(entry)
            result.messages += 1
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
        archive.writestr("manifest.csv", _csv(manifest))
    session.add(AuditEntry(tenant_id=tenant.id, action="exported", reason="matter" if scope.matter else "contact",
                           detail={"by": by, "matter": scope.matter, "contact": scope.contact,
                                   "since": scope.since.isoformat() if scope.since else None,
                                   "until": scope.until.isoformat() if scope.until else None,
                                   "messages": result.messages, "files": result.files}))
    return result


def _activities(session: Session, tenant: Tenant, scope: Scope, reader: Reader) -> Sequence[Activity]:
    if not scope.matter and not scope.contact:
        raise InputError("name a matter (--matter) or a contact (--contact) to export")
    statement = select(Activity).where(Activity.tenant_id == tenant.id, col(Activity.unlogged_at).is_(None),
                                       activity_filter(reader))
    if scope.matter:
        matter = session.exec(select(Record).where(Record.tenant_id == tenant.id, Record.kind == RecordKind.MATTER,
                                                   Record.number == scope.matter, record_filter(reader))).first()
        if matter is None:
            raise InputError(f"no matter {scope.matter}")
        statement = statement.where(col(Activity.id).in_(
            select(ActivityLink.activity_id).where(ActivityLink.record_id == matter.id)))
    if scope.contact:
        email = scope.contact.strip().lower()
        people = select(Record.id).where(Record.tenant_id == tenant.id, func.lower(Record.email) == email)
        statement = statement.where(
            col(Activity.id).in_(select(ActivityLink.activity_id).where(col(ActivityLink.record_id).in_(people)))
            | col(Activity.id).in_(select(Participant.activity_id).where(Participant.email == email)))
    moment = func.coalesce(col(Activity.sent_at), col(Activity.logged_at))
    if scope.since:
        statement = statement.where(moment >= datetime.combine(scope.since, time(), UTC))
    if scope.until:
        statement = statement.where(moment < datetime.combine(scope.until + timedelta(days=1), time(), UTC))
    return session.exec(statement.order_by(moment, col(Activity.id))).all()


def _describe(session: Session, activity: Activity) -> dict[str, Any]:
    people = session.exec(select(Participant).where(Participant.activity_id == activity.id)
                          .order_by(col(Participant.id))).all()
    records = session.exec(select(Record).join(ActivityLink, col(ActivityLink.record_id) == col(Record.id))
                           .where(ActivityLink.activity_id == activity.id).order_by(col(Record.id))).all()
    sources = session.exec(select(ActivitySource).where(ActivitySource.activity_id == activity.id)
                           .order_by(col(ActivitySource.id))).all()
    when = activity.sent_at or activity.logged_at
    return {
        "message_id": activity.internet_message_id,
        "date": when.isoformat() if when else "",
        "from": activity.from_email,
        "to": [p.email for p in people if p.role == "to"],
        "cc": [p.email for p in people if p.role == "cc"],
        "subject": activity.subject,
        "filed_under": [f"{r.kind}:{r.number or r.email or r.title}" for r in records],
        "sources": [f"{s.source}:{s.mailbox}" if s.mailbox else s.source for s in sources],
    }


def _write_files(session: Session, store: BlobStore, archive: zipfile.ZipFile, activity: Activity, folder: str,
                 result: ExportResult) -> list[dict[str, Any]]:
    files: list[dict[str, Any]] = []
    raw = session.exec(select(RawMessage.sha256).where(RawMessage.activity_id == activity.id)).first()
    if raw is not None:
        files.append(_add(archive, f"{folder}/message.eml", store.get(activity.tenant_id, raw), "message"))
    else:
        result.without_raw.append(activity.internet_message_id)
    taken: set[str] = set()
    for attachment in session.exec(select(Attachment).where(Attachment.activity_id == activity.id)
                                   .order_by(col(Attachment.id))).all():
        name = _unique(_safe(attachment.name) or "attachment", taken)
        files.append(_add(archive, f"{folder}/attachments/{name}", store.get(activity.tenant_id, attachment.sha256),
                          "attachment"))
    result.files += len(files)
    return files


def _add(archive: zipfile.ZipFile, path: str, content: bytes, kind: str) -> dict[str, Any]:
    with archive.open(path, "w") as target:
        target.write(content)
    return {"file": path, "kind": kind, "sha256": hashlib.sha256(content).hexdigest(), "size": len(content)}


def _csv(manifest: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for entry in manifest:
        common = [entry["message_id"], entry["date"], entry["from"], "; ".join(entry["to"]), "; ".join(entry["cc"]),
                  entry["subject"], "; ".join(entry["filed_under"]), "; ".join(entry["sources"])]
        for item in entry["files"] or [{"file": "", "kind": "", "sha256": "", "size": ""}]:
            writer.writerow([*common, item["file"], item["kind"], item["sha256"], item["size"]])
    return buffer.getvalue()


def _safe(name: str) -> str:
    return _UNSAFE.sub(" ", name).strip(" .")


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        stem, dot, extension = name.rpartition(".")
        candidate = f"{stem} ({n}).{extension}" if dot else f"{name} ({n})"
    taken.add(candidate)
    return candidate
