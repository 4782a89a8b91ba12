"""The capture pipeline for envelopes already in hand: route → apply, one transaction each.

Used by `bcc-capture ingest`, the tests and the demo; the sync engine wraps the same two calls
with the provider's cursor. When a message opens a thread, envelopes that were set aside as
unrelated earlier in the same batch are offered again, so the order mail arrives in never changes
what is logged (F13: earlier messages of a newly logged thread are logged too).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from tenacity import retry, retry_if_exception_type, stop_after_attempt

from connector.config import Settings
from connector.db import transaction
from connector.envelope import Envelope
from connector.routing.apply import Applied, apply
from connector.routing.core import Router
from connector.routing.decision import Outcome
from connector.routing.repository import SqlRepository


class Capture:
    def __init__(self, engine: Engine, settings: Settings,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock

    # Two copies of one message committed at once by two workers: the loser retries and merges.
    @retry(retry=retry_if_exception_type(IntegrityError), stop=stop_after_attempt(4), reraise=True)
    def process(self, envelope: Envelope) -> Applied:
        with transaction(self.engine) as session:
            decision = Router(SqlRepository(session), self.settings, self.clock).route(envelope)
            return apply(decision, session, self.settings)

    def process_all(self, envelopes: Iterable[Envelope]) -> list[tuple[Envelope, Applied]]:
        results = [(envelope, self.process(envelope)) for envelope in envelopes]
        changed = any(applied.thread_opened for _, applied in results)
        while changed:  # each newly logged message may pull in more of its thread
            changed = False
            for index, (envelope, applied) in enumerate(results):
                if applied.outcome is Outcome.IGNORED:
                    again = self.process(envelope)
                    if again.outcome is not Outcome.IGNORED:
                        results[index] = (envelope, again)
                        changed = True
        return results
