"""The mailbox state machine: one table says which event moves which state to which.

                                    connected
                                        |
  +-- active: the worker syncs these ---|---------------------------------------------------+
  |                                     v                                                   |
  |                                  initial ---synced---+                                  |
  |                                                      v                                  |
  |   resync ------------synced----------------------> incremental <-----synced---- failing |
  |     ^                                                                              ^    |
  |     +-- cursor_expired                           failed_repeatedly, resync_looping-+    |
  |         (from every active state)                (from every active state)              |
  +-------------+--------------------------------------------+------------------------------+
                | grant_revoked                              | capture_off
                v                                            v
     needs_reconnect --reconnected--> incremental         paused --capture_on [grant held]--> initial
       capture_on, capture_off:       [cursor kept],             --reconnected--> incremental [cursor kept],
       ignored: it waits for the user else initial                                else initial

  every state        --disconnected--> paused (grant and cursor dropped: connecting again starts afresh)
  every active state --reconnected---> itself (a fresh grant does not move a mailbox that is syncing)
  every active state --synced--------> incremental;  paused --capture_off--> paused

Every state change goes through `transition()`: the sync step and its failure policy
(`connector.sync.engine`, `connector.sync.commit`) and connect, disconnect and the capture switches
(`connector.services.mailboxes`). It finds the move in `RULES` (first match; a rule with a guard
applies only when the guard holds), refuses a move that is not there (`IllegalTransition`), and
returns the new state with the column values that go with it. Callers write only what it returns;
SQL writers add `still_in()` so a move applies only to the state it was decided from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from connector.models.sync import ACTIVE_STATES, Mailbox, MailboxState

__all__ = ["ACTIVE_STATES", "RULES", "Event", "Guard", "IllegalTransition", "MailboxState", "Rule", "Transition",
           "expire_cursor", "still_in", "transition"]


class Event(StrEnum):
    CONNECTED = "connected"  # a new mailbox was connected
    RECONNECTED = "reconnected"  # a fresh grant for a mailbox already known
    CAPTURE_OFF = "capture_off"  # the user, their role or their company may no longer capture
    CAPTURE_ON = "capture_on"  # ... and may again
    DISCONNECTED = "disconnected"  # the user disconnected it
    SYNCED = "synced"  # a page of changes and its cursor were committed (ends a resync too)
    CURSOR_EXPIRED = "cursor_expired"  # the delta token or history id is too old
    RESYNC_LOOPING = "resync_looping"  # ... and has been, too often within a day (the loop guard)
    GRANT_REVOKED = "grant_revoked"
    FAILED_REPEATEDLY = "failed_repeatedly"  # permanent errors, `sync.failing_after_attempts` in a row


class Guard(StrEnum):
    CURSOR_KEPT = "cursor kept"
    GRANT_HELD = "grant held"


class MailboxFacts(Protocol):
    """What the machine reads of a mailbox: a `Mailbox` row, or any object with these values."""

    state: str
    cursor: str
    credentials: str
    sync_from: datetime | None
    resyncs: int
    resync_started_at: datetime | None


_HOLDS: dict[Guard, Callable[[MailboxFacts], bool]] = {
    Guard.CURSOR_KEPT: lambda m: bool(m.cursor),
    Guard.GRANT_HELD: lambda m: bool(m.credentials),
}


@dataclass(frozen=True)
class Rule:
    source: MailboxState
    event: Event
    target: MailboxState
    guard: Guard | None = None  # the rule applies only when this holds; a later rule for the pair otherwise
    ignored: bool = False  # the event is allowed but changes nothing: no column is written


S, E = MailboxState, Event
_PARKED = (S.PAUSED, S.NEEDS_RECONNECT)

RULES: tuple[Rule, ...] = (
    Rule(S.INITIAL, E.CONNECTED, S.INITIAL),
    *(Rule(s, E.RECONNECTED, s) for s in ACTIVE_STATES),
    *(r for s in _PARKED for r in (Rule(s, E.RECONNECTED, S.INCREMENTAL, Guard.CURSOR_KEPT),
                                   Rule(s, E.RECONNECTED, S.INITIAL))),
    *(Rule(s, E.CAPTURE_OFF, S.PAUSED) for s in (*ACTIVE_STATES, S.PAUSED)),
    Rule(S.NEEDS_RECONNECT, E.CAPTURE_OFF, S.NEEDS_RECONNECT, ignored=True),  # it waits for the user
    # Mail sent while capture was off is not captured: back on, a mailbox starts from a fresh cursor.
    Rule(S.PAUSED, E.CAPTURE_ON, S.INITIAL, Guard.GRANT_HELD),
    Rule(S.PAUSED, E.CAPTURE_ON, S.PAUSED, ignored=True),  # disconnected: only connecting it again resumes
    *(Rule(s, E.CAPTURE_ON, s, ignored=True) for s in (*ACTIVE_STATES, S.NEEDS_RECONNECT)),
    *(Rule(s, E.DISCONNECTED, S.PAUSED) for s in MailboxState),
    *(Rule(s, E.SYNCED, S.INCREMENTAL) for s in ACTIVE_STATES),
    *(Rule(s, E.CURSOR_EXPIRED, S.RESYNC) for s in ACTIVE_STATES),
    *(Rule(s, E.RESYNC_LOOPING, S.FAILING) for s in ACTIVE_STATES),
    *(Rule(s, E.GRANT_REVOKED, S.NEEDS_RECONNECT) for s in ACTIVE_STATES),
    *(Rule(s, E.FAILED_REPEATEDLY, S.FAILING) for s in ACTIVE_STATES),
)


def _granted(m: MailboxFacts, now: datetime) -> dict[str, object]:
    # A reconnect after a revoked grant keeps its start: nothing that arrived meanwhile is skipped.
    return {"sync_from": m.sync_from or now, "attempts": 0, "last_error": "", "last_error_kind": "",
            "next_sync_at": now}


def _synced(m: MailboxFacts, now: datetime) -> dict[str, object]:
    # The loop guard counts cursor expiries per day: finishing a resync does not reset the count.
    return {"last_success_at": now, "attempts": 0, "last_error": "", "last_error_kind": "",
            "resyncs": m.resyncs if m.state == S.RESYNC else 0}


# The columns that go with each event (a paused or parked mailbox is never due: next_sync_at None).
_EFFECTS: dict[Event, Callable[[MailboxFacts, datetime], dict[str, object]]] = {
    E.CONNECTED: _granted,
    E.RECONNECTED: _granted,
    E.CAPTURE_OFF: lambda m, now: {"next_sync_at": None},
    E.CAPTURE_ON: lambda m, now: {"cursor": "", "sync_from": now, "next_sync_at": now},
    E.DISCONNECTED: lambda m, now: {"credentials": "", "cursor": "", "sync_from": None, "next_sync_at": None,
                                    "last_error": "disconnected by the user"},
    E.SYNCED: _synced,
    E.CURSOR_EXPIRED: lambda m, now: {"resync_started_at": now, "next_sync_at": now},
    E.RESYNC_LOOPING: lambda m, now: {"next_sync_at": now + timedelta(hours=1)},
    E.GRANT_REVOKED: lambda m, now: {"next_sync_at": None},
    E.FAILED_REPEATEDLY: lambda m, now: {},
}


class IllegalTransition(ValueError):
    """A state change the table does not allow: a bug in the caller, never a provider's failure."""

    def __init__(self, source: str, event: Event) -> None:
        super().__init__(f"mailbox state machine: no move from {source!r} on {event.value!r} "
                         "(the allowed moves are connector.sync.states.RULES)")
        self.source, self.event = source, event


@dataclass(frozen=True)
class Transition:
    source: MailboxState
    event: Event
    target: MailboxState
    values: Mapping[str, object]  # the columns to write, ``state`` included; empty when nothing changes

    def apply_to(self, mailbox: Mailbox) -> None:
        for name, value in self.values.items():
            setattr(mailbox, name, value)


def transition(mailbox: MailboxFacts, event: Event, now: datetime, **given: object) -> Transition:
    """The move ``event`` makes from ``mailbox``'s state and its columns, plus ``given`` ones (a cursor, an error)."""
    try:
        source = MailboxState(mailbox.state)
    except ValueError:
        raise IllegalTransition(mailbox.state, event) from None
    rule = next((r for r in RULES if r.source is source and r.event is event
                 and (r.guard is None or _HOLDS[r.guard](mailbox))), None)
    if rule is None:
        raise IllegalTransition(source.value, event)
    if rule.ignored:
        return Transition(source, event, source, {})
    if "state" in given:
        raise ValueError("the state is the table's to choose, not the caller's")
    values = {**_EFFECTS[event](mailbox, now), **given, "state": rule.target.value}
    return Transition(source, event, rule.target, values)


def expire_cursor(mailbox: MailboxFacts, now: datetime, max_per_day: int) -> Transition:
    """Enter resync at once, unless the cursor keeps expiring (loop guard): then show as failing for an hour."""
    recent = mailbox.resync_started_at is not None and now - mailbox.resync_started_at < timedelta(days=1)
    resyncs = mailbox.resyncs + 1 if recent else 1
    if resyncs > max_per_day:
        return transition(mailbox, Event.RESYNC_LOOPING, now, resyncs=resyncs,
                          last_error=f"cursor expired {resyncs} times within a day; resync paused for an hour")
    return transition(mailbox, Event.CURSOR_EXPIRED, now, resyncs=resyncs)


def still_in(moved: Transition) -> ColumnElement[bool]:
    """For an UPDATE writing ``moved``: only while the row is in the state the move was decided from.

    A pause, a disconnect or a reconnect committed while a step ran stands; the step's write is void.
    """
    return col(Mailbox.state) == moved.source.value
