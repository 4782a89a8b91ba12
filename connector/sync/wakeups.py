"""Rousing idle workers the moment a mailbox is woken, instead of at their next poll.

Every wake-up (`intake.wake`: a webhook call, a backfill request) also sends PostgreSQL's
``NOTIFY bcc_capture_wake``, delivered when its transaction commits. Each worker process keeps one
connection listening for it and wakes its idle threads. SQLite has no such channel: idle threads
poll the mailbox table every ``sync.idle_poll_seconds`` (one machine, one process, a cheap indexed query).
"""

from __future__ import annotations

import logging
import threading

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

CHANNEL = "bcc_capture_wake"
log = logging.getLogger("bcc_capture.worker")


def announce(session: Session) -> None:
    """Tell listening workers there is news (sent at commit; PostgreSQL folds repeats in one transaction)."""
    if session.get_bind().dialect.name == "postgresql":
        session.exec(text(f"NOTIFY {CHANNEL}"))  # type: ignore[call-overload]


class WakeSignal:
    """A generation counter idle threads wait on; a listener thread bumps it on every NOTIFY."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._changed = threading.Condition()
        self.generation = 0

    def start(self, stop: threading.Event) -> None:
        if self.engine.dialect.name == "postgresql":
            threading.Thread(target=self._listen, args=(stop,), name="wake-listener", daemon=True).start()

    def wait(self, seen: int, timeout: float) -> None:
        """Return when the generation moved past ``seen`` (news since the caller last looked) or after ``timeout``."""
        with self._changed:
            self._changed.wait_for(lambda: self.generation != seen, timeout)

    def bump(self) -> None:
        with self._changed:
            self.generation += 1
            self._changed.notify_all()

    def _listen(self, stop: threading.Event) -> None:
        url = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while not stop.is_set():
            try:
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.bump()  # anything announced while we were not listening is looked at now
                    while not stop.is_set():
                        for _ in conn.notifies(timeout=1.0):
                            self.bump()
            except psycopg.Error as exc:  # the database restarted: polling covers the gap, then listen again
                log.warning("wake listener lost its connection", extra={"error": str(exc)})
                stop.wait(1.0)
