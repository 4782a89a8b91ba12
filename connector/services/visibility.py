"""Who may read which logged mail: THE filter every list, search, count, page, download and export applies.

One rule, expressed once as SQL conditions (`activity_filter`, `record_filter`) so no path can forget a case:

* **ethical walls** (`Wall`): a user walled from a record never sees that record, nor any e-mail filed under
  it or with it (a walled contact) among its participants — whatever its visibility, even as its owner or an
  administrator;
* **visibility** (`ActivityVisibility`, else the company's `VisibilityPolicy`, else "company"):
  ``owner`` — its owner only; ``team`` — also the users on the e-mail and the *team* of every matter, project,
  case or opportunity it is filed under; ``company`` — every user. Administrators see past visibility (they
  answer for the company's records), never past a wall.

A record's *team* is its owner and every user who owns logged mail filed under it: the people working on the
matter are those whose mail is on it. Contacts, leads and customers have no team (everybody writes to them).

The company itself (`COMPANY`: the CLI operator, an API token acting for nobody) reads everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, not_, or_, true, union
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from connector.models import (
    Activity,
    ActivityLink,
    ActivityVisibility,
    Participant,
    Record,
    RecordKind,
    User,
    Visibility,
    VisibilityPolicy,
    Wall,
)
from connector.services.permissions import is_admin

TEAM_KINDS = (RecordKind.MATTER.value, RecordKind.PROJECT.value, RecordKind.CASE.value,
              RecordKind.OPPORTUNITY.value)


@dataclass(frozen=True)
class Reader:
    """Who is reading: a user (and whether they administer the company), or the company itself (no user)."""

    user_id: int | None = None
    admin: bool = False
    company_default: Visibility = Visibility.COMPANY
    email: str = ""  # named in the audit of what they viewed

    @property
    def is_company(self) -> bool:
        return self.user_id is None


COMPANY = Reader()


def company_visibility(session: Session, tenant_id: int | None) -> Visibility:
    policy = session.get(VisibilityPolicy, tenant_id) if tenant_id is not None else None
    return Visibility(policy.visibility) if policy is not None else Visibility.COMPANY


def reader_for(session: Session, user: User | None) -> Reader:
    """``user`` as a reader (None: the company itself)."""
    if user is None:
        return COMPANY
    return Reader(user.id, is_admin(session, user), company_visibility(session, user.tenant_id), user.email)


def walled_records(user_id: int) -> Select[Any]:
    """The ids of the records ``user_id`` is walled from (a subquery)."""
    return select(Wall.record_id).where(Wall.user_id == user_id)


def record_filter(reader: Reader) -> ColumnElement[bool]:
    """Records ``reader`` may see at all: every one but those behind a wall."""
    if reader.user_id is None:
        return true()
    return col(Record.id).not_in(walled_records(reader.user_id))


def activity_filter(reader: Reader) -> ColumnElement[bool]:
    """Logged mail ``reader`` may read; add it to any statement selecting from `Activity`."""
    if reader.user_id is None:
        return true()
    open_to_reader = not_(_behind_wall(reader.user_id))
    if reader.admin:
        return open_to_reader
    visible = or_(col(Activity.owner_user_id) == reader.user_id,
                  _has_visibility(Visibility.COMPANY, reader.company_default),
                  and_(_has_visibility(Visibility.TEAM, reader.company_default), _on_team(reader.user_id)))
    return and_(open_to_reader, visible)


def can_read(session: Session, reader: Reader, activity_id: int) -> bool:
    found = session.exec(select(Activity.id).where(Activity.id == activity_id, activity_filter(reader))).first()
    return found is not None


def can_see_record(session: Session, reader: Reader, record_id: int) -> bool:
    return reader.user_id is None or session.exec(select(Wall.id).where(
        Wall.user_id == reader.user_id, Wall.record_id == record_id)).first() is None


def hidden_message_ids(reader: Reader, tenant_id: int) -> Select[Any]:
    """The internet message ids of the company's mail ``reader`` may not read (a subquery): for the audit."""
    return select(Activity.internet_message_id).where(Activity.tenant_id == tenant_id,
                                                      not_(activity_filter(reader)))


def _behind_wall(user_id: int) -> ColumnElement[bool]:
    walled = walled_records(user_id)
    walled_people = select(Record.email).where(col(Record.id).in_(walled), col(Record.email).is_not(None))
    # one subquery per way in, not one with an OR: PostgreSQL then joins each to the (usually empty) walls instead
    # of reading every participant on every read of the mail (~15 ms a query at 100,000 e-mails)
    return or_(col(Activity.id).in_(select(ActivityLink.activity_id).where(col(ActivityLink.record_id).in_(walled))),
               col(Activity.id).in_(select(Participant.activity_id).where(col(Participant.record_id).in_(walled))),
               col(Activity.id).in_(select(Participant.activity_id).where(col(Participant.email).in_(walled_people))))


def _has_visibility(wanted: Visibility, company_default: Visibility) -> ColumnElement[bool]:
    """The owner chose ``wanted`` for it, or nobody chose and the company's policy is ``wanted``."""
    chosen = col(Activity.id).in_(select(ActivityVisibility.activity_id)
                                  .where(ActivityVisibility.visibility == wanted.value))
    if company_default is not wanted:
        return chosen
    return or_(chosen, col(Activity.id).not_in(select(ActivityVisibility.activity_id)))


def _on_team(user_id: int) -> ColumnElement[bool]:
    """``user_id`` is on the e-mail, or on the team of a matter/project/case/opportunity it is filed under."""
    mine = aliased(Activity)
    team_records = union(
        select(Record.id).where(Record.owner_user_id == user_id, col(Record.kind).in_(TEAM_KINDS)),
        select(ActivityLink.record_id)
        .join(mine, col(mine.id) == col(ActivityLink.activity_id))
        .join(Record, col(Record.id) == col(ActivityLink.record_id))
        .where(mine.owner_user_id == user_id, col(mine.unlogged_at).is_(None), col(Record.kind).in_(TEAM_KINDS)))
    return or_(col(Activity.id).in_(select(Participant.activity_id).where(Participant.user_id == user_id)),
               col(Activity.id).in_(select(ActivityLink.activity_id)
                                    .where(col(ActivityLink.record_id).in_(team_records))))


__all__ = ["COMPANY", "TEAM_KINDS", "Reader", "activity_filter", "can_read", "can_see_record",
           "company_visibility", "hidden_message_ids", "reader_for", "record_filter", "walled_records"]
