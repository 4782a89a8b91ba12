"""Errors as data: each provider failure maps to one action, and the delay before trying again."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy.exc import IntegrityError, OperationalError
from tenacity import RetryCallState, wait_exponential_jitter

from connector.errors import (
    CursorExpired,
    GrantRevoked,
    PermanentError,
    Throttled,
    TokenExpired,
    TransientError,
)


class Action(StrEnum):
    RETRY = "retry"  # transient: back off exponentially with jitter
    RATE_LIMITED = "rate_limited"  # honour Retry-After / the quota hint
    REFRESH_THEN_RETRY = "refresh_then_retry"  # the adapter refreshes the token; try again soon
    RESYNC = "resync"  # cursor expired: bounded re-read of recent mail
    NEEDS_RECONNECT = "needs_reconnect"  # grant revoked: stop until the user reconnects
    FAIL = "fail"  # anything else: audit, back off long, show as failing after repeats


POLICY: tuple[tuple[type[BaseException], Action], ...] = (
    (Throttled, Action.RATE_LIMITED),
    (TransientError, Action.RETRY),
    (TokenExpired, Action.REFRESH_THEN_RETRY),
    (CursorExpired, Action.RESYNC),
    (GrantRevoked, Action.NEEDS_RECONNECT),
    (PermanentError, Action.FAIL),
    (OperationalError, Action.RETRY),  # the database blinked (failover, lock timeout)
    (IntegrityError, Action.RETRY),  # lost a race on a unique key to another worker: the retry merges
    (ConnectionError, Action.RETRY),
    (TimeoutError, Action.RETRY),
)


def action_for(error: BaseException) -> Action:
    return next((action for kind, action in POLICY if isinstance(error, kind)), Action.FAIL)


def delay_for(error: BaseException, attempts: int, cap: float, answering_cap: float | None = None) -> float:
    """Seconds to wait before the mailbox is tried again after its ``attempts``-th failure in a row without progress
    (a step that committed anything starts the count again, so partial progress never escalates).

    Retry-After is honoured up to ``cap``. A provider that answers at all — throttled, 5xx, too slow, a connection
    cut mid-answer — is tried again within ``answering_cap``: it is having a bad minute, not gone, and a long
    backoff there only lets the backlog grow. Anything else backs off exponentially up to ``cap``.
    """
    if isinstance(error, Throttled):
        return min(max(error.retry_after, 0.0), cap)
    if answering_cap is not None and isinstance(error, TransientError):
        cap = min(cap, answering_cap)
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.attempt_number = max(attempts, 1)
    return float(wait_exponential_jitter(initial=1, max=cap, jitter=1)(state))
