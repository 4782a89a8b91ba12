"""Gmail API v1 REST handlers under ``/gmail/v1/users/{userId}/…`` (and ``/upload/gmail/v1/…``).

Every call runs the same pipeline, for single calls and batch sub-calls alike: route → bearer token
(401) → userId must be "me" or the token's user (403 "Delegation denied") → OAuth scopes (403
insufficientPermissions; the gmail.metadata scope cannot read bodies or use ``q``) → fault
knobs → per-user quota (429 rateLimitExceeded / 403 userRateLimitExceeded) → handler → the
``fields`` partial-response mask → request log.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emulators.clock import Clock
from emulators.postoffice import PostOffice

from . import fields, history, mime
from .drafts import Drafts
from .faults import Faults
from .filters import Filters
from .oauth import OAuthServer, Principal
from .push import GmailWatches
from .query import compile_query
from .quota import LoggedCall, QuotaMeter, RequestLog
from .send import Sender, read_message_upload
from .sendas import SendAsSettings
from .state import SYSTEM_LABELS, Mailbox, MailStore, StoredMessage
from .wire import ApiError, ApiRequest, ApiResponse, b64url, invalid, not_found

SCOPE = "https://www.googleapis.com/auth/"
MAIL = "https://mail.google.com/"
MODIFY, READONLY, METADATA = SCOPE + "gmail.modify", SCOPE + "gmail.readonly", SCOPE + "gmail.metadata"
COMPOSE, SEND, LABELS = SCOPE + "gmail.compose", SCOPE + "gmail.send", SCOPE + "gmail.labels"
SETTINGS, SHARING = SCOPE + "gmail.settings.basic", SCOPE + "gmail.settings.sharing"
READ = (MAIL, MODIFY, READONLY, METADATA)
WRITE = (MAIL, MODIFY)
DRAFTING = (MAIL, MODIFY, COMPOSE)  # the discovery document's scopes for drafts.create/update/send/delete


@dataclass
class Call:
    req: ApiRequest
    principal: Principal
    mailbox: Mailbox
    args: dict[str, str]
    upload: bool
    metadata_only: bool  # the token's only applicable scope is gmail.metadata


Handler = Callable[[Call], "dict[str, Any] | ApiResponse"]


@dataclass(frozen=True)
class Route:
    http_method: str
    pattern: re.Pattern[str]
    method_id: str
    scopes: tuple[str, ...]
    handler_name: str


def _route(http_method: str, path: str, method_id: str, scopes: tuple[str, ...], handler: str) -> Route:
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path)
    return Route(http_method, re.compile(f"^/gmail/v1/users/(?P<userId>[^/]+){regex}$"), method_id, scopes, handler)


ROUTES = [
    _route("GET", "/profile", "gmail.users.getProfile", (*READ, COMPOSE), "get_profile"),
    _route("POST", "/watch", "gmail.users.watch", READ, "watch"),
    _route("POST", "/stop", "gmail.users.stop", READ, "stop"),
    _route("GET", "/messages", "gmail.users.messages.list", READ, "list_messages"),
    _route("POST", "/messages/send", "gmail.users.messages.send", (*WRITE, COMPOSE, SEND), "send"),
    _route("GET", "/messages/{messageId}/attachments/{id}", "gmail.users.messages.attachments.get",
           (MAIL, MODIFY, READONLY), "get_attachment"),
    _route("POST", "/messages/{id}/modify", "gmail.users.messages.modify", WRITE, "modify"),
    _route("POST", "/messages/{id}/trash", "gmail.users.messages.trash", WRITE, "trash"),
    _route("POST", "/messages/{id}/untrash", "gmail.users.messages.untrash", WRITE, "untrash"),
    _route("GET", "/messages/{id}", "gmail.users.messages.get", READ, "get_message"),
    _route("DELETE", "/messages/{id}", "gmail.users.messages.delete", (MAIL,), "delete_message"),
    _route("GET", "/threads", "gmail.users.threads.list", READ, "list_threads"),
    _route("GET", "/threads/{id}", "gmail.users.threads.get", READ, "get_thread"),
    _route("GET", "/history", "gmail.users.history.list", READ, "list_history"),
    _route("GET", "/labels", "gmail.users.labels.list", (*READ, LABELS), "list_labels"),
    _route("POST", "/labels", "gmail.users.labels.create", (*WRITE, LABELS), "create_label"),
    _route("GET", "/labels/{id}", "gmail.users.labels.get", (*READ, LABELS), "get_label"),
    _route("POST", "/drafts", "gmail.users.drafts.create", DRAFTING, "drafts.create"),
    _route("POST", "/drafts/send", "gmail.users.drafts.send", DRAFTING, "drafts.send"),
    _route("GET", "/drafts", "gmail.users.drafts.list", (MAIL, MODIFY, COMPOSE, READONLY), "drafts.list"),
    _route("GET", "/drafts/{id}", "gmail.users.drafts.get", (MAIL, MODIFY, COMPOSE, READONLY), "drafts.get"),
    _route("PUT", "/drafts/{id}", "gmail.users.drafts.update", DRAFTING, "drafts.update"),
    _route("DELETE", "/drafts/{id}", "gmail.users.drafts.delete", DRAFTING, "drafts.delete"),
    _route("POST", "/settings/filters", "gmail.users.settings.filters.create", (SETTINGS,), "filters.create"),
    _route("GET", "/settings/filters", "gmail.users.settings.filters.list", (*WRITE, READONLY, SETTINGS),
           "filters.list"),
    _route("GET", "/settings/filters/{id}", "gmail.users.settings.filters.get", (*WRITE, READONLY, SETTINGS),
           "filters.get"),
    _route("DELETE", "/settings/filters/{id}", "gmail.users.settings.filters.delete", (SETTINGS,),
           "filters.delete"),
    _route("GET", "/settings/sendAs", "gmail.users.settings.sendAs.list", (SETTINGS, MAIL, MODIFY, READONLY),
           "send_as.list"),
    _route("GET", "/settings/sendAs/{sendAsEmail}", "gmail.users.settings.sendAs.get",
           (SETTINGS, MAIL, MODIFY, READONLY), "send_as.get"),
    _route("POST", "/settings/sendAs", "gmail.users.settings.sendAs.create", (SHARING,), "send_as.create"),
    _route("DELETE", "/settings/sendAs/{sendAsEmail}", "gmail.users.settings.sendAs.delete", (SHARING,),
           "send_as.delete"),
]
FORMATS = ("minimal", "full", "raw", "metadata")


def _page_token(msg: StoredMessage) -> str:
    return base64.urlsafe_b64encode(f"{msg.internal_date_ms}:{msg.id}".encode()).decode().rstrip("=")


def _after_token(token: str | None) -> tuple[int, str] | None:
    if not token:
        return None
    try:
        ms, _, mid = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode().partition(":")
        return int(ms), mid
    except (ValueError, binascii.Error) as exc:
        raise invalid("Invalid pageToken") from exc


def _max_results(value: str | None, default: int = 100) -> int:
    try:
        return min(max(int(value), 1), 500) if value else default
    except ValueError as exc:
        raise invalid(f"Invalid value '{value}' for parameter maxResults") from exc


class GmailApi:
    def __init__(
        self,
        store: MailStore,
        oauth: OAuthServer,
        quota: QuotaMeter,
        log: RequestLog,
        faults: Faults,
        watches: GmailWatches,
        post_office: PostOffice,
        clock: Clock,
    ) -> None:
        self.store = store
        self.oauth = oauth
        self.quota = quota
        self.log = log
        self.faults = faults
        self.watches = watches
        self.post_office = post_office
        self.clock = clock
        self.sender = Sender(store, post_office)
        self.drafts = Drafts(self, store, self.sender)
        self.filters = Filters()
        self.send_as = SendAsSettings(store.lock)

    # -- pipeline ---------------------------------------------------------------------------
    def handle(self, req: ApiRequest, *, in_batch: bool = False, batch_index: int = 0) -> ApiResponse:
        upload = req.path.startswith("/upload/")
        path = req.path[len("/upload") :] if upload else req.path
        route, args = self._match(req.method, path)
        method_id = route.method_id if route else "unknown"
        user: str | None = None
        units = 0
        try:
            if route is None:
                raise self._unknown(req.method, path)
            principal = self.oauth.authenticate(req.headers.get("authorization"))
            mailbox = self._mailbox(principal, args["userId"])
            user = mailbox.address
            applicable = principal.scopes.intersection(route.scopes)
            if not applicable:
                raise self._insufficient(method_id)
            if in_batch and batch_index >= self.faults.batch_overload_threshold and self.faults.chance(
                self.faults.batch_overload_probability
            ):
                raise ApiError(429, "Too many concurrent requests for user.", "rateLimitExceeded")
            self.faults.check_request(method_id, user)
            units = self.quota.charge(user, method_id)
            call = Call(req, principal, mailbox, args, upload, applicable == {METADATA})
            result = self._handler(route.handler_name)(call)
            if isinstance(result, ApiResponse):
                response = result
            else:
                mask = req.param("fields")
                response = ApiResponse.json(fields.apply(result, fields.parse(mask)) if mask else result)
        except ApiError as error:
            response = error.to_response()
        self.log.add(LoggedCall(self.clock.now(), method_id, user, response.status, units, in_batch,
                                req.method, req.path, req.param("format") or ""))
        return response

    def _handler(self, name: str) -> Handler:
        """``"get_message"`` → this object's method; ``"drafts.create"`` → ``self.drafts.create``."""
        target: Any = self
        for part in name.split("."):
            target = getattr(target, part)
        return target

    @staticmethod
    def _match(http_method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        for route in ROUTES:
            if route.http_method != http_method:
                continue
            match = route.pattern.match(path)
            if match:
                return route, {k: v for k, v in match.groupdict().items() if v is not None}
        return None, {}

    @staticmethod
    def _unknown(http_method: str, path: str) -> ApiError:
        if path.startswith("/gmail/v1/users/"):
            return ApiError(501, f"The emulator does not implement {http_method} {path}.", "notImplemented")
        return ApiError(404, "Method not found.", "notFound")

    @staticmethod
    def _insufficient(method_id: str) -> ApiError:
        info = {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
            "domain": "googleapis.com",
            "metadata": {"service": "gmail.googleapis.com", "method": method_id},
        }
        return ApiError(403, "Request had insufficient authentication scopes.", "insufficientPermissions",
                        item_message="Insufficient Permission", details=[info])

    def _mailbox(self, principal: Principal, user_id: str) -> Mailbox:
        if principal.user is None:  # a service account's own token: no mailbox behind it
            raise ApiError(400, "Precondition check failed.", "failedPrecondition", status_name="FAILED_PRECONDITION")
        if user_id != "me" and user_id.lower() != principal.user:
            raise ApiError(403, f"Delegation denied for {principal.user}", "forbidden")
        mailbox = self.store.mailbox(principal.user)
        if mailbox is None:
            raise ApiError(400, "Mail service not enabled", "failedPrecondition", status_name="FAILED_PRECONDITION")
        return mailbox

    # -- profile, watch ---------------------------------------------------------------------
    def get_profile(self, call: Call) -> dict[str, Any]:
        with self.store.lock:
            live = call.mailbox.live()
            return {
                "emailAddress": call.mailbox.address,
                "messagesTotal": len(live),
                "threadsTotal": len({m.thread_id for m in live}),
                "historyId": str(call.mailbox.history_id),
            }

    def watch(self, call: Call) -> dict[str, Any]:
        with self.store.lock:
            return self.watches.watch(call.mailbox, call.req.json(), call.principal.project)

    def stop(self, call: Call) -> ApiResponse:
        self.watches.stop(call.mailbox.address)
        return ApiResponse.empty()

    # -- messages ---------------------------------------------------------------------------
    def _message(self, call: Call, message_id: str) -> StoredMessage:
        msg = call.mailbox.messages.get(message_id)
        if msg is None or msg.deleted:
            raise not_found()
        return msg

    def render(self, msg: StoredMessage, fmt: str, wanted_headers: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"id": msg.id, "threadId": msg.thread_id}
        if msg.label_ids:
            out["labelIds"] = list(msg.label_ids)
        out["snippet"] = mime.snippet(msg.parsed)
        if fmt == "metadata":
            out["payload"] = mime.metadata_payload(msg.parsed, wanted_headers)
        elif fmt == "full":
            out["payload"] = mime.payload(msg.parsed, msg.id)
        out["sizeEstimate"] = len(msg.raw)
        if fmt == "raw":
            out["raw"] = b64url(msg.raw)
        out["historyId"] = str(msg.history_id)
        out["internalDate"] = str(msg.internal_date_ms)
        return out

    def format_of(self, call: Call, allowed: tuple[str, ...] = FORMATS) -> str:
        fmt = (call.req.param("format") or "full").lower()
        if fmt not in allowed:
            raise invalid(f"Invalid value at 'format' ({fmt})")
        if call.metadata_only and fmt in ("full", "raw"):
            raise ApiError(403, f"Metadata scope doesn't allow format {fmt.upper()}", "forbidden")
        return fmt

    def get_message(self, call: Call) -> dict[str, Any]:
        fmt = self.format_of(call)
        with self.store.lock:
            msg = self._message(call, call.args["id"])
            return self.render(msg, fmt, call.req.params("metadataHeaders"))

    def _search(self, call: Call) -> list[StoredMessage]:
        q = call.req.param("q") or ""
        if q and call.metadata_only:
            raise ApiError(403, "Metadata scope does not support 'q' parameter", "forbidden")
        predicate, spam_trash = compile_query(call.mailbox, q, self.clock.now_ms())
        labels = call.req.params("labelIds")
        include_spam_trash = spam_trash or (call.req.param("includeSpamTrash") or "").lower() == "true"
        hits = [
            m
            for m in call.mailbox.live()
            if (include_spam_trash or not {"SPAM", "TRASH"} & set(m.label_ids))
            and all(label in m.label_ids for label in labels)
            and predicate(m)
        ]
        return sorted(hits, key=lambda m: (m.internal_date_ms, m.id), reverse=True)

    def list_messages(self, call: Call) -> dict[str, Any]:
        limit = _max_results(call.req.param("maxResults"))
        after = _after_token(call.req.param("pageToken"))
        with self.store.lock:
            hits = self._search(call)
            rest = [m for m in hits if after is None or (m.internal_date_ms, m.id) < after]
            page = rest[:limit]
            out: dict[str, Any] = {}
            if page:
                out["messages"] = [{"id": m.id, "threadId": m.thread_id} for m in page]
            if len(rest) > limit:
                out["nextPageToken"] = _page_token(page[-1])
            out["resultSizeEstimate"] = len(hits)
            return out

    def get_attachment(self, call: Call) -> dict[str, Any]:
        ref = mime.parse_attachment_id(call.args["id"])
        with self.store.lock:
            msg = self._message(call, call.args["messageId"])
            part = mime.find_part(msg.parsed, ref[1]) if ref and ref[0] == msg.id else None
            if part is None or part.is_multipart():
                raise invalid("Invalid attachment token")
            data = mime.leaf_bytes(part)
        return {"size": len(data), "data": b64url(data)}

    def modify(self, call: Call) -> dict[str, Any]:
        body = call.req.json()
        add, remove = list(body.get("addLabelIds") or []), list(body.get("removeLabelIds") or [])
        return self._change_labels(call, add, remove)

    def trash(self, call: Call) -> dict[str, Any]:
        return self._change_labels(call, ["TRASH"], [])

    def untrash(self, call: Call) -> dict[str, Any]:
        return self._change_labels(call, [], ["TRASH"])

    def _change_labels(self, call: Call, add: list[str], remove: list[str]) -> dict[str, Any]:
        for label in add + remove:
            if not call.mailbox.label_exists(label):
                raise invalid(f"Invalid label: {label}")
        msg = self.store.modify(call.mailbox.address, call.args["id"], add, remove)
        if msg is None:
            raise not_found()
        return {"id": msg.id, "threadId": msg.thread_id, "labelIds": list(msg.label_ids)}

    def delete_message(self, call: Call) -> ApiResponse:
        if not self.store.delete(call.mailbox.address, call.args["id"]):
            raise not_found()
        return ApiResponse.empty()

    # -- send -------------------------------------------------------------------------------
    def send(self, call: Call) -> dict[str, Any]:
        raw, thread_id = read_message_upload(call.req, call.upload)
        copy = self.sender.send(call.mailbox, raw, thread_id)
        return {"id": copy.id, "threadId": copy.thread_id, "labelIds": list(copy.label_ids)}

    # -- threads ----------------------------------------------------------------------------
    def get_thread(self, call: Call) -> dict[str, Any]:
        fmt = self.format_of(call, ("full", "metadata", "minimal"))
        wanted = call.req.params("metadataHeaders")
        with self.store.lock:
            members = call.mailbox.thread_messages(call.args["id"])
            if not members:
                raise not_found()
            return {
                "id": call.args["id"],
                "historyId": str(max(m.history_id for m in members)),
                "messages": [self.render(m, fmt, wanted) for m in members],
            }

    def list_threads(self, call: Call) -> dict[str, Any]:
        limit = _max_results(call.req.param("maxResults"))
        after = _after_token(call.req.param("pageToken"))
        with self.store.lock:
            newest: dict[str, StoredMessage] = {}
            for m in self._search(call):
                newest.setdefault(m.thread_id, m)
            ordered = list(newest.values())
            rest = [m for m in ordered if after is None or (m.internal_date_ms, m.id) < after]
            page = rest[:limit]
            out: dict[str, Any] = {}
            if page:
                out["threads"] = []
                for m in page:
                    members = call.mailbox.thread_messages(m.thread_id)
                    out["threads"].append({
                        "id": m.thread_id,
                        "snippet": mime.snippet(members[-1].parsed),
                        "historyId": str(max(x.history_id for x in members)),
                    })
            if len(rest) > limit:
                out["nextPageToken"] = _page_token(page[-1])
            out["resultSizeEstimate"] = len(ordered)
            return out

    # -- history ----------------------------------------------------------------------------
    def list_history(self, call: Call) -> dict[str, Any]:
        req = call.req
        self.store.prune(call.mailbox.address)
        with self.store.lock:
            return history.list_history(
                call.mailbox, req.param("startHistoryId"), req.params("historyTypes"), req.param("labelId"),
                req.param("maxResults"), req.param("pageToken"),
            )

    # -- labels -----------------------------------------------------------------------------
    def _label(self, mailbox: Mailbox, label_id: str, counts: bool) -> dict[str, Any]:
        if label_id in SYSTEM_LABELS:
            out: dict[str, Any] = {"id": label_id, "name": label_id, **SYSTEM_LABELS[label_id], "type": "system"}
        else:
            out = {"id": label_id, **mailbox.user_labels[label_id], "type": "user"}
        if counts:
            tagged = [m for m in mailbox.live() if label_id in m.label_ids]
            unread = [m for m in tagged if "UNREAD" in m.label_ids]
            out.update({
                "messagesTotal": len(tagged),
                "messagesUnread": len(unread),
                "threadsTotal": len({m.thread_id for m in tagged}),
                "threadsUnread": len({m.thread_id for m in unread}),
            })
        return out

    def list_labels(self, call: Call) -> dict[str, Any]:
        with self.store.lock:
            ids = list(SYSTEM_LABELS) + list(call.mailbox.user_labels)
            return {"labels": [self._label(call.mailbox, i, False) for i in ids]}

    def get_label(self, call: Call) -> dict[str, Any]:
        with self.store.lock:
            if not call.mailbox.label_exists(call.args["id"]):
                raise not_found()
            return self._label(call.mailbox, call.args["id"], True)

    def create_label(self, call: Call) -> dict[str, Any]:
        body = call.req.json()
        name = str(body.get("name") or "").strip()
        if not name:
            raise invalid("Invalid label name")
        with self.store.lock:
            existing = [m["name"].lower() for m in call.mailbox.user_labels.values()]
            if name.lower() in existing or name.upper() in SYSTEM_LABELS:
                raise ApiError(409, "Label name exists or conflicts", "failedPrecondition", status_name="ABORTED")
            label_id = f"Label_{len(call.mailbox.user_labels) + 1}"
            call.mailbox.user_labels[label_id] = {
                "name": name,
                "messageListVisibility": str(body.get("messageListVisibility") or "show"),
                "labelListVisibility": str(body.get("labelListVisibility") or "labelShow"),
            }
            return self._label(call.mailbox, label_id, False)
