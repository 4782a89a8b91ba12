"""users.settings.filters (create, list, get, delete), and the labels received mail gets on arrival.

A filter's criteria (``from``, ``to``, ``subject``, ``query``, ``negatedQuery``, ``hasAttachment``, ``size``)
select incoming mail and its action adds and removes labels (developers.google.com/gmail/api/guides/
filter_settings): ``removeLabelIds: ["INBOX"]`` is "Skip the Inbox (Archive it)", ``addLabelIds`` a user
label or a category — so received mail may carry neither INBOX nor SENT. Mail Gmail's classifier holds
for spam arrives with SPAM instead of INBOX; "Not spam" later is an ordinary label change (SPAM removed,
INBOX added: labelsRemoved/labelsAdded in history, never a second messageAdded). The classifier is
Google's own; tests steer it with `Arrival.spam_senders`.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from email.utils import getaddresses
from typing import TYPE_CHECKING, Any

from emulators.clock import Clock

from . import mime
from .query import compile_query
from .state import INBOX_ARRIVAL, Mailbox, StoredMessage
from .wire import ApiError, ApiResponse, invalid, not_found

if TYPE_CHECKING:
    from .api import Call

Predicate = Callable[[StoredMessage], bool]
CRITERIA = ("from", "to", "subject", "query", "negatedQuery", "hasAttachment", "excludeChats", "size",
            "sizeComparison")


def _quoted(value: Any) -> str:
    return '"' + str(value).replace('"', " ") + '"'


def _size(criteria: dict[str, Any]) -> Predicate:
    size, comparison = int(criteria.get("size") or 0), str(criteria.get("sizeComparison") or "unspecified")
    if comparison == "larger":
        return lambda m: len(m.raw) > size
    if comparison == "smaller":
        return lambda m: len(m.raw) < size
    return lambda m: True


def matcher(mailbox: Mailbox, criteria: dict[str, Any], now_ms: int) -> Predicate:
    """The criteria as one predicate, in the search language Gmail documents them by."""
    terms = [f"from:{_quoted(criteria['from'])}"] if criteria.get("from") else []
    if criteria.get("subject"):
        terms.append(f"subject:{_quoted(' '.join(str(criteria['subject']).split()))}")
    if criteria.get("hasAttachment"):
        terms.append("has:attachment")
    if criteria.get("query"):
        terms.append(str(criteria["query"]))
    positive, _ = compile_query(mailbox, " ".join(terms), now_ms)
    negated = compile_query(mailbox, str(criteria["negatedQuery"]), now_ms)[0] if criteria.get("negatedQuery") \
        else (lambda m: False)
    to = str(criteria.get("to") or "").lower()  # "includes recipients in the to, cc and bcc header fields"
    size = _size(criteria)

    def addressed(m: StoredMessage) -> bool:
        values = [str(v) for name in ("To", "Cc", "Bcc") for v in m.parsed.get_all(name, [])]
        return not to or any(to in f"{n} {a}".lower() for n, a in getaddresses(values))

    return lambda m: positive(m) and not negated(m) and addressed(m) and size(m)


class Arrival:
    """Labels for mail received into a mailbox: spam or inbox, then the user's filters, in creation order."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.spam_senders: set[str] = set()  # addresses or @domains the classifier holds for spam

    def _is_spam(self, msg: StoredMessage) -> bool:
        senders = [a.lower() for _, a in getaddresses([mime.first_header(msg.parsed, "From")]) if a]
        with self._lock:
            return any(s in self.spam_senders or "@" + s.rpartition("@")[2] in self.spam_senders for s in senders)

    def labels(self, mailbox: Mailbox, msg: StoredMessage) -> list[str]:
        labels = ["SPAM", "UNREAD"] if self._is_spam(msg) else list(INBOX_ARRIVAL)
        for item in list(mailbox.filters.values()):
            criteria, action = item["criteria"], item["action"]
            if matcher(mailbox, criteria, self._clock.now_ms())(msg):
                labels += [label for label in action.get("addLabelIds") or [] if label not in labels]
                labels = [label for label in labels if label not in (action.get("removeLabelIds") or [])]
        return labels


class Filters:
    """The users.settings.filters handlers."""

    def create(self, call: Call) -> dict[str, Any]:
        body = call.req.json()
        criteria, action = dict(body.get("criteria") or {}), dict(body.get("action") or {})
        unknown = set(criteria) - set(CRITERIA)
        if unknown:
            raise invalid(f"Invalid filter criteria: {sorted(unknown)}")
        if not any(criteria.get(k) for k in CRITERIA if k not in ("excludeChats", "sizeComparison")):
            raise invalid("Filter doesn't have any criteria")
        if action.get("forward"):
            raise ApiError(501, "The emulator does not forward mail from filters.", "notImplemented")
        labels = list(action.get("addLabelIds") or []) + list(action.get("removeLabelIds") or [])
        if not labels:
            raise invalid("Filter doesn't have any actions")
        for label in labels:
            if not call.mailbox.label_exists(label):
                raise invalid(f"Invalid label {label} in AddLabelIds or RemoveLabelIds")
        compile_query(call.mailbox, str(criteria.get("query") or ""), 0)  # a bad query is refused now
        filter_id = "ANe1Bm" + secrets.token_urlsafe(18)
        found: dict[str, Any] = {"id": filter_id, "criteria": criteria, "action": action}
        call.mailbox.filters[filter_id] = found
        return found

    def list(self, call: Call) -> dict[str, Any]:
        found = list(call.mailbox.filters.values())
        return {"filter": found} if found else {}

    def get(self, call: Call) -> dict[str, Any]:
        found = call.mailbox.filters.get(call.args["id"])
        if found is None:
            raise not_found()
        return dict(found)

    def delete(self, call: Call) -> ApiResponse:
        if call.mailbox.filters.pop(call.args["id"], None) is None:
            raise not_found()
        return ApiResponse.empty()
