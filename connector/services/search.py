"""Full-text search over logged mail: subject, sender, participants (names and addresses) and body text.

One condition on `Activity` for every search box (the Communications tab, the API), whatever the database:

* SQLite: FTS5 tables ``activity_search`` (subject, sender, text) and ``participant_search`` (address, name),
  external-content tables kept in step with their rows by triggers (migration 0018), so every writer, the
  bulk one included, indexes what it writes in the same transaction.
* PostgreSQL: a generated ``tsvector`` column ``search`` on ``activity`` and on ``participant``, each with a
  GIN index (migration 0018). A term few e-mails hold in their own words (the planner's estimate) is looked up
  in the index, so the tab reads no e-mail's row for it (a contact's page searched for her name); a common one
  is tested on each e-mail the tab reads anyway, cheaper than listing most of them from the index.

Both split text into words of letters and digits (``carol@clientco.com`` is ``carol clientco com``) and
ignore case. A search is its words: each whitespace-separated term must be found, in the mail itself or
among its participants; a term of several words (an address) is found as that phrase, and its last word may
be the start of a longer one (``retain`` finds "retainer"). SQLite also ignores accents; PostgreSQL's
``simple`` configuration does not.
"""

from __future__ import annotations

import re

from sqlalchemy import ColumnElement, and_, column, false, func, literal_column, or_, select, table, text
from sqlmodel import Session, col

from connector.models import Activity, Participant

_WORD = re.compile(r"[^\W_]+")
# FTS5 tables answer `MATCH` on a hidden column named as the table; the tsvector columns are not in the models
# (no ORM read should carry them)
_FTS_ACTIVITY = table("activity_search", column("rowid"), column("activity_search"))
_FTS_PARTICIPANT = table("participant_search", column("rowid"), column("participant_search"))
_ACTIVITY_WORDS = literal_column("activity.search")
_PARTICIPANT_WORDS = literal_column("participant.search")
_MAIL = table("activity", column("id"), column("search")).alias("mail_words")  # the e-mails, not the ones filtered
# e-mails the planner expects to hold a term, at most, for the index to list them: a page at 100,000 e-mails then
# skips reading all of them (~70 ms); a list of most of them costs more than that reading (2-3x the page's query)
FEW_IN_MAIL = 5_000


def terms(query: str) -> list[list[str]]:
    """The words of each term of ``query``, lower-cased; punctuation separates words and is not searched."""
    return [words for chunk in query.lower().split() if (words := _WORD.findall(chunk))]


def matching(session: Session, query: str) -> ColumnElement[bool]:
    """Activities that match every term of ``query`` (a query with no words matches nothing)."""
    found = terms(query)
    if not found:
        return false()
    if session.get_bind().dialect.name == "postgresql":
        return and_(*(_postgresql_term(session, words) for words in found))
    return and_(*(_sqlite_term(words) for words in found))


def _sqlite_term(words: list[str]) -> ColumnElement[bool]:
    phrase = '"' + " ".join(words) + '"*'  # words are letters and digits only: nothing to escape
    in_mail = select(_FTS_ACTIVITY.c.rowid).where(_FTS_ACTIVITY.c.activity_search.op("MATCH")(phrase))
    people = select(Participant.activity_id).where(col(Participant.id).in_(
        select(_FTS_PARTICIPANT.c.rowid).where(_FTS_PARTICIPANT.c.participant_search.op("MATCH")(phrase))))
    return or_(col(Activity.id).in_(in_mail), col(Activity.id).in_(people))


def _postgresql_term(session: Session, words: list[str]) -> ColumnElement[bool]:
    phrase = " <-> ".join([*words[:-1], words[-1] + ":*"])
    query = func.to_tsquery("simple", phrase)
    people = select(Participant.activity_id).where(_PARTICIPANT_WORDS.bool_op("@@")(query))
    if _few_in_mail(session, phrase):  # the same e-mails either way: only the work differs
        in_mail = col(Activity.id).in_(select(_MAIL.c.id).where(_MAIL.c.search.bool_op("@@")(query)))
    else:
        in_mail = _ACTIVITY_WORDS.bool_op("@@")(query)
    return or_(in_mail, col(Activity.id).in_(people))


def _few_in_mail(session: Session, phrase: str) -> bool:
    """Whether PostgreSQL expects at most `FEW_IN_MAIL` e-mails to hold ``phrase`` in their own words: its
    planner's estimate from the column's statistics (EXPLAIN plans, it reads no row)."""
    plan = session.execute(text("EXPLAIN (FORMAT JSON) SELECT 1 FROM activity WHERE search @@ to_tsquery('simple', "
                                ":phrase)"), {"phrase": phrase}).scalar_one()
    return bool(plan[0]["Plan"]["Plan Rows"] <= FEW_IN_MAIL)


__all__ = ["matching", "terms"]
