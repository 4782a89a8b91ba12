"""Watch what reaches the emulators, call by call, to attribute requests, units and bytes to messages.

The emulators' own request logs stay the accounting of record (requests, quota units); these
observers only add what the logs leave out: the message a call was about, whether it asked for a
full body (`$value`, `format=raw`), and the size of the answer.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emulators.gmail import GmailEmulator
from emulators.gmail import app as gmail_app
from emulators.gmail import quota as gmail_quota
from emulators.graph import GraphEmulator

_GRAPH_MESSAGE = re.compile(r"/messages/([^/]+)(/\$value)?$")
_GMAIL_MESSAGE = re.compile(r"/messages/([^/]+)$")


@dataclass(frozen=True)
class Call:
    provider: str
    kind: str  # feed | metadata | body | conversation | batch | profile | other
    message_id: str  # the provider message id for metadata/body calls, else ""
    in_batch: bool
    status: int
    bytes: int
    units: int = 0


class Observer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: list[Call] = []
        self.enabled = False
        self._restore: Callable[[], None] = lambda: None

    def add(self, call: Call) -> None:
        if self.enabled:
            with self._lock:
                self.calls.append(call)

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()

    def snapshot(self) -> list[Call]:
        with self._lock:
            return list(self.calls)

    def install(self, graph: GraphEmulator, gmail: GmailEmulator) -> None:
        """Wrap the request entry points (before the emulators start: Gmail binds them at start)."""
        graph_handle = graph.router.handle
        gmail_handle = gmail.api.handle

        def graph_observed(req: Any) -> Any:
            response = graph_handle(req)
            self.add(Call("graph", *_graph_kind(req.method, req.path, req.query), req.in_batch, response.status,
                          _graph_size(response.body)))
            return response

        def gmail_observed(req: Any, *, in_batch: bool = False, batch_index: int = 0) -> Any:
            response = gmail_handle(req, in_batch=in_batch, batch_index=batch_index)
            query = dict(req.query)
            kind, message_id = _gmail_kind(req.method, req.path, query)
            units = _gmail_units(req.path, kind) if response.status < 400 else 0
            self.add(Call("gmail", kind, message_id, in_batch, response.status, len(response.body or b""), units))
            return response

        def gmail_batch(api: Any, req: Any) -> Any:
            self.add(Call("gmail", "batch", "", False, 200, 0))  # before its calls: they follow it
            return original_batch(api, req)

        graph.router.handle = graph_observed  # type: ignore[method-assign]
        gmail.api.handle = gmail_observed  # type: ignore[method-assign]
        original_batch = gmail_app.handle_batch
        gmail_app.handle_batch = gmail_batch
        self._restore = lambda: setattr(gmail_app, "handle_batch", original_batch)

    def uninstall(self) -> None:
        self._restore()


def _graph_size(body: Any) -> int:
    if isinstance(body, bytes):
        return len(body)
    if isinstance(body, str):
        return len(body.encode())
    if body is None:
        return 0
    return len(json.dumps(body).encode())


def _graph_kind(method: str, path: str, query: dict[str, str]) -> tuple[str, str]:
    if path.endswith("/$batch"):
        return "batch", ""
    if "/subscriptions" in path:
        return "other", ""
    if path.endswith("/messages/delta"):
        return "feed", ""
    found = _GRAPH_MESSAGE.search(path)
    if found and method == "GET":
        return ("body" if found.group(2) else "metadata"), found.group(1)
    if path.endswith("/messages") and method == "GET" and query.get("$select") == "parentFolderId":
        return "feed", ""  # the Graph adapter's probe for new folders: part of every wake-up's change feed
    if "/mailFolders" in path and not path.endswith("/messages") and method == "GET":
        return "feed", ""  # the folder map, read when due: the change feed's cost too
    if path.endswith("/messages") and method == "GET":
        return "conversation", ""  # thread (conversationId) and find (internetMessageId) look-ups
    return "other", ""


def _gmail_kind(method: str, path: str, query: dict[str, str]) -> tuple[str, str]:
    if path.endswith("/history"):
        return "feed", ""
    if path.endswith("/profile"):
        return "profile", ""
    if "/threads/" in path:
        return "conversation", ""
    found = _GMAIL_MESSAGE.search(path)
    if found and method == "GET":
        return ("body" if query.get("format") in ("raw", "full") else "metadata"), found.group(1)
    if path.endswith("/messages") and method == "GET":
        return "conversation", ""  # rfc822msgid: look-ups (find) and recent listings
    return "other", ""


def _gmail_units(path: str, kind: str) -> int:
    """What this call was charged, from the emulator's own quota table (Google's 2026 units per method)."""
    if kind == "feed":
        method = "history.list"
    elif kind == "profile":
        method = "getProfile"
    elif "/threads/" in path:
        method = "threads.get"
    elif path.endswith("/watch"):
        method = "watch"
    elif kind in ("body", "metadata"):
        method = "messages.get"
    elif path.endswith("/messages"):
        method = "messages.list"
    else:
        return gmail_quota.UNLISTED_UNITS
    return gmail_quota.UNITS[f"gmail.users.{method}"]


Install = Callable[[GraphEmulator, GmailEmulator], None]
