"""Full-text search over logged mail: subject, sender, participants (names and addresses) and body text.

One condition on `Activity` for every search box (the Communications tab, the API), whatever the database:

* SQLite: FTS5 tables ``activity_search`` (subject, sender, text) and ``participant_search`` (address, name),
  external-content tables kept in step with their rows by triggers (migration 0018), so every writer, the
  bulk one included, indexes what it writes in the same transaction.
* PostgreSQL: a generated ``tsvector`` column ``search`` on ``activity`` and on ``participant``, each with a
  GIN index (migration 0018).

Both split text into words of letters and digits (``carol@clientco.com`` is ``carol clientco com``) and
ignore case. A search is its words: each whitespace-separated term must be found, in the mail itself or
among its participants; a term of several words (an address) is found as that phrase, and its last word may
be the start of a longer one (``retain`` finds "retainer"). SQLite also ignores accents; PostgreSQL's
``simple`` configuration does not.
"""

from __future__ import annotations

import re

from sqlalchemy import ColumnElement, and_, column, false, func, literal_column, or_, select, table
from sqlmodel import Session, col

from connector.models import Activity, Participant

_WORD = re.compile(r"[^\W_]+")
# FTS5 tables answer `MATCH` on a hidden column named as the table; the tsvector columns are not in the models
# (no ORM read should carry them)
_FTS_ACTIVITY = table("activity_search", column("rowid"), column("activity_search"))
_FTS_PARTICIPANT = table("participant_search", column("rowid"), column("participant_search"))
_ACTIVITY_WORDS = literal_column("activity.search")
_PARTICIPANT_WORDS = literal_column("participant.search")


def terms(query: str) -> list[list[str]]:
    """The words of each term of ``query``, lower-cased; punctuation separates words and is not searched."""
    return [words for chunk in query.lower().split() if (words := _WORD.findall(chunk))]


def matching(session: Session, query: str) -> ColumnElement[bool]:
    """Activities that match every term of ``query`` (a query with no words matches nothing)."""
    found = terms(query)
    if not found:
        return false()
    dialect = session.get_bind().dialect.name
    one = _postgresql_term if dialect == "postgresql" else _sqlite_term
    return and_(*(one(words) for words in found))


def _sqlite_term(words: list[str]) -> ColumnElement[bool]:
    phrase = '"' + " ".join(words) + '"*'  # words are letters and digits only: nothing to escape
    in_mail = select(_FTS_ACTIVITY.c.rowid).where(_FTS_ACTIVITY.c.activity_search.op("MATCH")(phrase))
    people = select(Participant.activity_id).where(col(Participant.id).in_(
        select(_FTS_PARTICIPANT.c.rowid).where(_FTS_PARTICIPANT.c.participant_search.op("MATCH")(phrase))))
    return or_(col(Activity.id).in_(in_mail), col(Activity.id).in_(people))


def _postgresql_term(words: list[str]) -> ColumnElement[bool]:
    query = func.to_tsquery("simple", " <-> ".join([*words[:-1], words[-1] + ":*"]))
    people = select(Participant.activity_id).where(_PARTICIPANT_WORDS.bool_op("@@")(query))
    return or_(_ACTIVITY_WORDS.bool_op("@@")(query), col(Activity.id).in_(people))


__all__ = ["matching", "terms"]
