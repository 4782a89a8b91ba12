"""``GET /users/{id}/mailFolders/{folder}/messages/delta``: Graph's per-folder change tracking.

A round is a chain of pages: ``@odata.nextLink`` (``$skiptoken``) until the last page, which carries
``@odata.deltaLink`` (``$deltatoken``). The first round lists every message in the folder; a round
started from a delta link lists only what changed after it: created or updated messages in full
(or their ``$select``ed properties) and ``{"id", "@removed": {"reason": "deleted"}}`` for messages
deleted or moved out. Query options are given once, in the first request, and live in the token.

Tokens are opaque handles on server-side cursors and may be replayed (a replay repeats the same
changes, as Graph's may). A token that is expired — by the ``expire(user)`` knob, or older than
``token_max_age`` emulated seconds — or unknown answers ``410 Gone`` with code
``SyncStateNotFound`` (that casing, as Graph answered in microsoftgraph/microsoft-graph-docs#2350);
the client must start a new round without a token.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from emulators.clock import Clock

from .odata import Clause, QueryError, matches, parse_expand, parse_filter, parse_select
from .render import message_json
from .router import Call, RouteSpec, route
from .state import World
from .wire import IMMUTABLE_IDS, GraphResponse, graph_error

# Graph's words (microsoftgraph/microsoft-graph-docs#2350): "The sync state generation is not found;
# generation=149;[highest=157][157][155][156]."
EXPIRED_MESSAGE = "The sync state generation is not found; generation={generation};[highest={highest}]."


# (immutable id, "upsert" | "removed", the default id the removed item had in this folder)
Entry = tuple[str, str, str]


@dataclass
class DeltaCursor:
    user_id: str
    folder_id: str
    select: list[str] | None
    change_type: str | None
    clauses: list[Clause]
    page_size: int
    issued: float
    base_seq: int = 0  # delta cursor: report changes after this sequence number
    pending: list[Entry] | None = None  # skip cursor: the entries left
    upto_seq: int = 0
    me: bool = False
    expired: bool = False
    expand: list[str] | None = None  # extended properties asked for ($expand lives in the token too)
    token: str = field(default_factory=lambda: "GwcBoT" + secrets.token_urlsafe(30))


class DeltaApi:
    def __init__(self, world: World, clock: Clock) -> None:
        self.world, self.clock = world, clock
        self.default_page_size = 10
        self.max_page_size = 1000
        self.token_max_age: float | None = None
        self._lock = threading.Lock()
        self._cursors: dict[str, DeltaCursor] = {}

    def routes(self) -> list[RouteSpec]:
        return [route("GET", "/{user}/mailFolders/{folder}/messages/delta", self.delta, "read")]

    def expire(self, user_id: str | None = None) -> int:
        """Expire every delta/skip token (of one mailbox); returns how many."""
        with self._lock:
            hit = [c for c in self._cursors.values() if user_id in (None, c.user_id) and not c.expired]
            for cursor in hit:
                cursor.expired = True
            return len(hit)

    def _page_size(self, call: Call, fallback: int) -> tuple[int, bool]:
        value = call.req.prefer().get("odata.maxpagesize")
        if value and value.isdigit() and int(value) > 0:
            return min(int(value), self.max_page_size), True
        return fallback, False

    def delta(self, call: Call) -> GraphResponse:
        assert call.user is not None
        req = call.req
        token = req.query.get("$deltatoken") or req.query.get("$skiptoken")
        if token:
            with self._lock:
                cursor = self._cursors.get(token)
            too_old = cursor is not None and self.token_max_age is not None and \
                cursor.issued + self.token_max_age < self.clock.now()
            if cursor is None or cursor.expired or too_old or cursor.user_id != call.user.id:
                seq = self.world.current_seq()
                return graph_error(410, "SyncStateNotFound", EXPIRED_MESSAGE.format(
                    generation=cursor.base_seq if cursor else 0, highest=seq))
        else:
            folder = self.world.folder(call.user.id, call.params["folder"])
            if folder is None:
                return graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
            clauses = parse_filter(req.query.get("$filter"))
            if any(c.field != "receiveddatetime" or c.op not in ("ge", "gt") for c in clauses):
                raise QueryError("ErrorInvalidUrlQueryFilter", "The only supported $filter expressions "
                                 "for delta are receivedDateTime ge/gt {value}.")
            change_type = req.query.get("changeType")
            if change_type not in (None, "created", "updated", "deleted"):
                raise QueryError("BadRequest", f"Invalid value '{change_type}' for changeType.")
            cursor = DeltaCursor(call.user.id, folder.id, parse_select(req.query.get("$select")), change_type,
                                 clauses, self.default_page_size, self.clock.now(), base_seq=-1,
                                 me=req.path.lower().startswith("/me"), expand=parse_expand(req.query.get("$expand")))
        page_size, preferred = self._page_size(call, cursor.page_size)
        if cursor.pending is not None:
            entries, upto = list(cursor.pending), cursor.upto_seq
        else:
            upto = self.world.current_seq()
            entries = self._initial(cursor) if cursor.base_seq < 0 else self._changes(cursor, upto)
        page, rest = entries[:page_size], entries[page_size:]
        body: dict[str, Any] = {"@odata.context": f"{req.root}/$metadata#Collection(message)",
                                "value": [self._render(cursor, entry) for entry in page]}
        follow = DeltaCursor(cursor.user_id, cursor.folder_id, cursor.select, cursor.change_type, cursor.clauses,
                             page_size, self.clock.now(), me=cursor.me, expand=cursor.expand)
        if rest:
            follow.pending, follow.upto_seq = rest, upto
        else:
            follow.base_seq = upto
        with self._lock:
            self._cursors[follow.token] = follow
        who = "me" if cursor.me else f"users/{cursor.user_id}"
        link = f"{req.root}/{who}/mailFolders('{cursor.folder_id}')/messages/delta?"
        if rest:
            body["@odata.nextLink"] = f"{link}$skiptoken={follow.token}"
        else:
            body["@odata.deltaLink"] = f"{link}$deltatoken={follow.token}"
        headers = {"Preference-Applied": f"odata.maxpagesize={page_size}"} if preferred else {}
        return GraphResponse(200, body, headers)

    def _initial(self, cursor: DeltaCursor) -> list[Entry]:
        found = self.world.mailbox_messages(cursor.user_id, cursor.folder_id)
        found.reverse()  # oldest first
        return [(m.id, "upsert", m.rest_id) for m in found if self._wanted(cursor, m.id)]

    def _changes(self, cursor: DeltaCursor, upto: int) -> list[Entry]:
        latest: dict[str, tuple[int, set[str], str]] = {}
        for change in self.world.changes_after(cursor.user_id, cursor.folder_id, cursor.base_seq, upto):
            _, kinds, _ = latest.get(change.message_id, (0, set(), ""))
            latest[change.message_id] = (change.seq, kinds | {change.kind}, change.rest_id)
        entries: list[Entry] = []
        for message_id, (_, kinds, rest_id) in sorted(latest.items(), key=lambda item: item[1][0]):
            message = self.world.messages.get(message_id)
            if message is not None and message.folder_id == cursor.folder_id:
                kind = "created" if "created" in kinds else "updated"
                if cursor.change_type in (None, kind) and self._wanted(cursor, message_id):
                    entries.append((message_id, "upsert", rest_id))
            elif cursor.change_type in (None, "deleted"):
                # A move out is "@removed" here and a new item in the destination folder's delta
                # (learn.microsoft.com/graph/delta-query-messages), under the id the item had here.
                entries.append((message_id, "removed", rest_id))
        return entries

    def _wanted(self, cursor: DeltaCursor, message_id: str) -> bool:
        message = self.world.messages.get(message_id)
        return message is not None and (not cursor.clauses or matches(cursor.clauses, {
            "receiveddatetime": message.received}))

    def _render(self, cursor: DeltaCursor, entry: Entry) -> dict[str, Any]:
        message_id, kind, rest_id = entry
        message = self.world.messages.get(message_id)
        if kind == "removed" or message is None or message.folder_id != cursor.folder_id:
            shown = message_id if IMMUTABLE_IDS.get() else rest_id
            return {"@odata.type": "#microsoft.graph.message", "id": shown, "@removed": {"reason": "deleted"}}
        return message_json(self.world, message, cursor.select, None, typed=True, expand=cursor.expand)
