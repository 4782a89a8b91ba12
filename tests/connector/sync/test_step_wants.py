"""A sync step judges a whole page of header-only mail at once (`Reader._wants`: the page's look-ups asked up
front, one query per kind) and decides exactly what judging each message on its own, from scratch, decides.

Generated conversations (replies, copies in two mailboxes and at the dropbox, every address scheme) are read
page by page: each page is judged both ways against the same database, then what it wants is filed (full copies
for the downloads, the header-only ones for another copy or a refusal), so later pages meet logged threads,
copies of logged messages and privacy refusals.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import Session

from connector.config import Settings
from connector.db import transaction
from connector.mail.envelope import Direction, Envelope, Source
from connector.models import Mailbox
from connector.routing.core import Router, Want
from connector.routing.repository import SqlRepository
from connector.services.capture import capture_batch
from connector.sync.step import Reader
from tests.conftest import FIXED_NOW
from tests.connector.routing.test_bulk_equivalence import a_mail, envelopes, fresh_world


def as_read(envelope: Envelope) -> Envelope:
    """The copy as a provider lists it before any download: headers only, its folder known."""
    owner_sent = envelope.from_ is not None and envelope.from_.email == envelope.mailbox
    return envelope.with_changes(source=Source.GRAPH, complete=False, text="", html=None, attachments=(),
                                 forwarded=(), raw=None,
                                 direction=Direction.SENT if owner_sent else Direction.RECEIVED)


def one_by_one(engine: Engine, config: Settings, page: list[Envelope]) -> list[Want]:
    found = []
    for envelope in page:
        with Session(engine) as session:  # nothing asked ahead, nothing shared with the other messages
            found.append(Router(SqlRepository(session), config, lambda: FIXED_NOW).wants(envelope))
    return found


def reader(engine: Engine, config: Settings) -> Reader:
    # _wants reads the database only: the provider, the mailbox reference and row are not used
    return Reader(engine, config, lambda: FIXED_NOW, None, None, Mailbox())  # type: ignore[arg-type]


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(mails=st.lists(a_mail, min_size=1, max_size=8),
       copies=st.lists(st.tuples(st.integers(0, 7), st.integers(1, 2)), min_size=1, max_size=14),
       page=st.integers(1, 14))
def check_same_wants(engine: Engine, config: Settings, mails: list[dict[str, Any]], copies: list[tuple[int, int]],
                     page: int) -> None:
    full = envelopes(mails, copies)
    read = [as_read(e) for e in full]
    fresh_world(engine)
    for start in range(0, len(read), page):
        heads, bodies = read[start:start + page], full[start:start + page]
        alone = one_by_one(engine, config, heads)
        together = [want for _, want in reader(engine, config)._wants(heads)]
        assert together == alone
        for want in together:
            event(want.value)
        wanted = [b.with_changes(source=Source.GRAPH, direction=h.direction)
                  for h, b, w in zip(heads, bodies, together, strict=True) if w is Want.FULL]
        wanted += [h for h, w in zip(heads, together, strict=True) if w in (Want.ANOTHER_COPY, Want.REFUSE)]
        with transaction(engine) as session:
            capture_batch(session, config, lambda: FIXED_NOW, wanted)


def test_a_page_judged_at_once_wants_what_each_message_judged_alone_wants(engine: Engine, settings: Settings) -> None:
    check_same_wants(engine, settings)


