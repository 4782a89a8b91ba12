"""Fault knobs: failing API calls (quota storms, 5xx) and misbehaving push delivery.

Each rule fires for the next N matching events, or with a probability, from a seeded RNG so a
failing test replays. All methods are thread-safe; `GmailEmulator` exposes them as its control API.
"""

from __future__ import annotations

import json
import random
import threading
from dataclasses import dataclass

from emulators.slow import SlowProfile

from .wire import ApiError

TRANSIENT = {
    500: ("Internal error encountered.", "backendError"),
    502: ("Bad Gateway", "backendError"),
    503: ("The service is currently unavailable.", "backendError"),
    504: ("Deadline exceeded.", "backendError"),
}


@dataclass
class Rule:
    remaining: int | None  # None: unlimited (probability-driven)
    probability: float
    methods: frozenset[str] | None = None
    user: str | None = None
    status: int = 429
    retry_after: float | None = None
    seconds: float = 0.0  # push delay

    def matches(self, method: str, user: str | None) -> bool:
        return (self.methods is None or method in self.methods) and (self.user is None or self.user == user)


class Faults:
    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._api: list[Rule] = []
        self._push: dict[str, list[Rule]] = {"drop": [], "duplicate": [], "delay": []}
        self.reorder_window = 0  # hold this many pushes, then deliver them newest first
        self.batch_overload_threshold = 50  # sub-calls after this index may draw 429
        self.batch_overload_probability = 0.3
        self.slow = SlowProfile()  # slow large pages, resets mid-body, 503 spells (emulators/slow.py)

    def seed(self, seed: int) -> None:
        with self._lock:
            self._rng.seed(seed)

    def chance(self, probability: float) -> bool:
        with self._lock:
            return self._rng.random() < probability

    @staticmethod
    def _fire(rules: list[Rule], rng: random.Random, method: str, user: str | None) -> Rule | None:
        for rule in list(rules):
            if not rule.matches(method, user):
                continue
            if rule.remaining is not None:
                if rule.remaining <= 0:
                    rules.remove(rule)
                    continue
                if rule.probability >= 1 or rng.random() < rule.probability:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        rules.remove(rule)
                    return rule
            elif rng.random() < rule.probability:
                return rule
        return None

    # -- API calls ---------------------------------------------------------------------------
    def fail_requests(
        self,
        status: int,
        *,
        next_n: int | None = None,
        probability: float = 1.0,
        retry_after: float | None = None,
        methods: list[str] | None = None,
        user: str | None = None,
    ) -> None:
        """Answer matching calls with ``status`` (429/403 quota errors, 500/503 backend errors)."""
        rule = Rule(next_n, probability, frozenset(methods) if methods else None, user, status, retry_after)
        with self._lock:
            self._api.append(rule)

    def clear_requests(self) -> None:
        with self._lock:
            self._api.clear()
        self.slow.clear()

    def check_request(self, method: str, user: str | None) -> None:
        with self._lock:
            rule = self._fire(self._api, self._rng, method, user)
        if rule is None:
            return
        headers = {"Retry-After": str(round(rule.retry_after))} if rule.retry_after is not None else {}
        if rule.status == 429:
            raise ApiError(429, "Rate Limit Exceeded", "rateLimitExceeded", domain="usageLimits", headers=headers)
        if rule.status == 403:
            raise ApiError(403, "User Rate Limit Exceeded", "userRateLimitExceeded", domain="usageLimits",
                           headers=headers)
        message, reason = TRANSIENT.get(rule.status, ("Backend Error", "backendError"))
        raise ApiError(rule.status, message, reason, headers=headers)

    # -- push ----------------------------------------------------------------------------------
    def add_push_rule(self, kind: str, next_n: int | None, probability: float, seconds: float = 0.0,
                      user: str | None = None) -> None:
        with self._lock:
            self._push[kind].append(Rule(next_n, probability, None, user, seconds=seconds))

    def push_fault(self, kind: str, user: str | None) -> Rule | None:
        with self._lock:
            return self._fire(self._push[kind], self._rng, "push", user)

    def clear_push(self) -> None:
        with self._lock:
            for rules in self._push.values():
                rules.clear()
            self.reorder_window = 0


def unavailable(with_retry_after: bool) -> tuple[dict[str, str], bytes]:
    """A 503 of a spell in Google's error shape (developers.google.com/gmail/api/guides/handle-errors: backendError)."""
    message, reason = TRANSIENT[503]
    return {}, json.dumps(ApiError(503, message, reason).payload()).encode()
