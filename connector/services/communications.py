"""The Communications tab: threads (newest first) and their messages (oldest first), one page at a time.

A contact's or lead's tab holds the mail filed under them *and* every logged mail they took part in (from,
to or cc): a client who replies in a thread filed under a matter is still on that client's timeline.
Rows are read in a fixed number of queries per page (never per message), and pages follow one another by
keyset (thread_pages), so a page costs about the same at 100 messages as at 100,000; search is full-text over
subject, sender, text and participants (services/search.py: FTS5 on SQLite, tsvector on PostgreSQL).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, union
from sqlmodel import Session, col, select

from connector.models import (
    Activity,
    ActivityLink,
    ActivitySource,
    ActivityVisibility,
    Attachment,
    Participant,
    Record,
    RecordKind,
    Tenant,
    Thread,
    User,
)
from connector.services import search
from connector.services.thread_pages import thread_page
from connector.services.visibility import COMPANY, Reader, activity_filter

PAGE_SIZE = 50
_ACTIVITY = Activity.__table__  # type: ignore[attr-defined]
TIMELINE_ROLES = ("from", "to", "cc")  # a Bcc'd person did not visibly take part
# "Re: Fwd: AW: …": each prefix is one step further down the thread than the message it answers
_PREFIX = re.compile(r"^\s*(re|fw|fwd|aw|wg|sv|vs|tr|rv|antw)\s*(\[\d+\])?\s*:", re.IGNORECASE)


@dataclass
class MessageRow:
    activity_id: int
    internet_message_id: str
    direction: str
    subject: str
    sent_at: datetime | None
    from_: str
    owner: str
    participants: list[tuple[str, str, str]]  # (email, role, kind)
    filed_under: list[str]
    text: str
    html: str | None
    attachments: list[tuple[int, str, int]]  # (id, name, size)
    sources: list[str]
    notes: list[str]
    type: str
    performed_by: str
    status: str
    visibility: str | None = None  # what the owner chose; None: the company's policy


@dataclass
class ThreadRow:
    thread_id: int
    subject: str
    messages: list[MessageRow] = field(default_factory=list)

    @property
    def latest(self) -> datetime | None:
        return max((m.sent_at for m in self.messages if m.sent_at), default=None)


@dataclass(frozen=True)
class CommunicationsPage:
    threads: list[ThreadRow]
    messages: int  # every matching message, on all pages
    page: int
    pages: int
    newer: str | None = None  # the link token of the page before (thread_pages.Cursor), if any
    older: str | None = None  # ... and of the page after


def communications(session: Session, tenant: Tenant, record: Record | None = None,
                   query: str = "", reader: Reader = COMPANY) -> list[ThreadRow]:
    """Every thread at once (the CLI and the API's full read)."""
    return communications_page(session, tenant, record, query=query, page_size=None, reader=reader).threads


def communications_page(session: Session, tenant: Tenant, record: Record | None = None, *, query: str = "",
                        page: int = 1, page_size: int | None = PAGE_SIZE, after: str = "", before: str = "",
                        reader: Reader = COMPANY) -> CommunicationsPage:
    """One page of threads (``page_size`` threads; None: all) for a record, or the whole company: only the mail
    ``reader`` may read (walls, visibility), so the counts and the pages never reveal the rest. ``after`` and
    ``before`` are the tokens of a page's "older" and "newer" links (keyset pages, see thread_pages)."""
    where = mail_of(session, tenant, record, query, reader)
    found = thread_page(session, where, page=page, after=after, before=before, page_size=page_size)
    thread_ids = found.thread_ids
    # the shown threads are the company's: naming it again (where[0]) would lead SQLite away from the thread index
    activities: list[Any] = list(session.execute(select(*_ACTIVITY.columns).where(  # rows: see _message_rows
        col(Activity.thread_id).in_(thread_ids), *where[1:])))
    rows = _message_rows(session, activities)
    subjects = dict(session.exec(select(Thread.id, Thread.subject).where(col(Thread.id).in_(thread_ids))).all())
    threads = {tid: ThreadRow(tid, subjects.get(tid, "")) for tid in thread_ids}
    for activity, row in zip(activities, rows, strict=True):
        threads[activity.thread_id].messages.append(row)
    for thread in threads.values():
        thread.messages.sort(key=_position)
    return CommunicationsPage(list(threads.values()), found.messages, found.page, found.pages, found.newer,
                              found.older)


def shown(threads: list[ThreadRow]) -> list[tuple[int, str]]:
    """(activity id, internet message id) of every message on these threads: what the view audit records."""
    return [(m.activity_id, m.internet_message_id) for t in threads for m in t.messages]


def _position(row: MessageRow) -> tuple[Any, ...]:
    """Sent time, then thread depth: a forward of a reply sent in the same second comes after that reply."""
    return row.sent_at is None, row.sent_at, _depth(row.subject), row.activity_id


def _depth(subject: str) -> int:
    depth = 0
    while match := _PREFIX.match(subject):
        subject, depth = subject[match.end():], depth + 1
    return depth


def mail_of(session: Session, tenant: Tenant, record: Record | None = None, query: str = "",
            reader: Reader = COMPANY) -> list[ColumnElement[bool]]:
    """Conditions on `Activity` selecting the tab's mail: the company's, the record's (None: all of it), matching
    ``query``, and only what ``reader`` may read. Every reader of the tab (console, API, CLI) starts from these."""
    return [col(Activity.tenant_id) == tenant.id, *_filters(session, record, query), activity_filter(reader)]


def _filters(session: Session, record: Record | None, query: str) -> list[ColumnElement[bool]]:
    """Mail of the record (any of the company's: None) matching ``query``; the caller names the company."""
    where: list[ColumnElement[bool]] = [col(Activity.unlogged_at).is_(None)]
    if record is not None:
        filed = select(ActivityLink.activity_id).where(ActivityLink.record_id == record.id)
        if record.kind in (RecordKind.CONTACT, RecordKind.LEAD) and record.email:
            # one IN over a UNION, not an OR of two: PostgreSQL then joins instead of filtering every row
            filed = union(filed, select(Participant.activity_id).where(
                Participant.email == record.email, col(Participant.role).in_(TIMELINE_ROLES)))  # type: ignore[assignment]
        where.append(col(Activity.id).in_(filed))
    if query.strip():
        where.append(search.matching(session, query))
    return where


def message_row(session: Session, activity: Activity) -> MessageRow:
    """One e-mail as the Communications tab shows it (its own page)."""
    return _message_rows(session, [activity])[0]


def _message_rows(session: Session, activities: list[Any]) -> list[MessageRow]:
    """The rows of ``activities`` (`Activity` objects or rows of its columns), with their children read in one query
    per kind as plain rows (the columns shown, named as the models name them), not ORM objects, which cost a page
    of 200 e-mails and their 800 participants more than reading them did."""
    ids = [a.id for a in activities]
    people: dict[int, list[Any]] = defaultdict(list)
    for p in session.execute(select(Participant.activity_id, Participant.email, Participant.role, Participant.kind,
                                    Participant.record_id).where(col(Participant.activity_id).in_(ids))
                             .order_by(col(Participant.id))):
        people[p.activity_id].append(p)
    links: dict[int, list[tuple[Record, str]]] = defaultdict(list)
    for activity_id, record, reason in session.exec(
            select(ActivityLink.activity_id, Record, ActivityLink.reason)
            .join(Record, col(ActivityLink.record_id) == col(Record.id))
            .where(col(ActivityLink.activity_id).in_(ids)).order_by(col(Record.id))):
        links[activity_id].append((record, reason))
    files: dict[int, list[Any]] = defaultdict(list)
    for a in session.execute(select(Attachment.activity_id, Attachment.id, Attachment.name, Attachment.size)
                             .where(col(Attachment.activity_id).in_(ids)).order_by(col(Attachment.id))):
        files[a.activity_id].append(a)
    seen: dict[int, list[Any]] = defaultdict(list)
    for s in session.execute(select(ActivitySource.activity_id, ActivitySource.source, ActivitySource.mailbox)
                             .where(col(ActivitySource.activity_id).in_(ids)).order_by(col(ActivitySource.id))):
        seen[s.activity_id].append(s)
    owner_ids = {a.owner_user_id for a in activities if a.owner_user_id}
    owners = dict(session.exec(select(User.id, User.email).where(col(User.id).in_(owner_ids))).all())
    chosen = dict(session.exec(select(ActivityVisibility.activity_id, ActivityVisibility.visibility)
                               .where(col(ActivityVisibility.activity_id).in_(ids))).all())
    return [replace(_row(a, people[a.id or 0], links[a.id or 0], files[a.id or 0], seen[a.id or 0],
                         owners.get(a.owner_user_id, "")), visibility=chosen.get(a.id)) for a in activities]


def _row(activity: Any, participants: list[Any], links: list[tuple[Record, str]], attachments: list[Any],
         sources: list[Any], owner: str) -> MessageRow:
    """``participants``, ``attachments``, ``sources``: rows with the columns of those tables `_message_rows` reads."""
    assert activity.id is not None
    filed_people = {r.id for r, _ in links if r.kind in (RecordKind.CONTACT, RecordKind.LEAD)}
    return MessageRow(
        activity_id=activity.id, internet_message_id=activity.internet_message_id, direction=activity.direction,
        subject=activity.subject, sent_at=activity.sent_at,
        from_=f"{activity.from_name} <{activity.from_email}>" if activity.from_name else activity.from_email,
        owner=owner, participants=[(p.email, p.role, _kind(p, filed_people)) for p in participants],
        filed_under=[f"{r.kind} {r.label}" + ("" if reason in ("address", "contact") else f" ({reason})")
                     for r, reason in links],
        text=activity.text, html=activity.html,
        attachments=[(a.id or 0, a.name, a.size) for a in attachments],
        sources=[f"{s.source}:{s.mailbox}" if s.mailbox else s.source for s in sources],
        notes=list(activity.notes), type=activity.type, performed_by=activity.performed_by, status=activity.status)


def _kind(participant: Any, filed_people: set[int | None]) -> str:
    """A person the mail is filed under is a contact here, even when routing called them external (several
    customers on one mail make every contact external for the customer rule, not for the reader)."""
    if participant.kind == "external" and participant.record_id is not None and participant.record_id in filed_people:
        return "contact"
    return participant.kind
