"""Inbox rules: ``…/mailFolders/inbox/messageRules`` (list, get, create, update, delete), run on arrival.

The messageRule resource (learn.microsoft.com/graph/api/resources/messagerule): ``displayName``, ``sequence``
(rules run in ascending order), ``isEnabled``, ``conditions`` and ``actions``, plus the read-only ``hasError``
and ``isReadOnly``. Rules live on the Inbox only and need MailboxSettings.Read / MailboxSettings.ReadWrite
(learn.microsoft.com/graph/api/mailfolder-list-messagerules, …/mailfolder-post-messagerules,
…/messagerule-update, …/messagerule-delete).

Conditions (messageRulePredicates, learn.microsoft.com/graph/api/resources/messagerulepredicates) emulated:
``fromAddresses`` (the From is one of them), ``senderContains`` (one of the strings appears in the From),
``subjectContains`` (one appears in the subject); all given predicates must hold, case-insensitive. Actions
(messageRuleActions, …/resources/messageruleactions): ``moveToFolder`` (a folder id), ``markAsRead``, ``delete``
("moved to the Deleted Items folder") and ``stopProcessingRules``. Server-side rules run as the message is
delivered, so a moved message is created in its destination and never shows in the Inbox or its delta
(Exchange: "server-side rules … are applied on the server when the message is delivered"). Other predicates or
actions answer 400 naming what the emulator supports, rather than being silently ignored.
"""

from __future__ import annotations

import base64
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from . import mime
from .mail import json_body
from .router import Call, RouteSpec, route
from .state import User, World
from .wire import GraphResponse, bad_request, not_found, odata_key

CONDITIONS = ("fromAddresses", "senderContains", "subjectContains")
ACTIONS = ("moveToFolder", "markAsRead", "delete", "stopProcessingRules")


@dataclass
class Rule:
    id: str
    display_name: str
    sequence: int
    is_enabled: bool
    conditions: dict[str, Any] = field(default_factory=dict)
    actions: dict[str, Any] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        return {"id": self.id, "displayName": self.display_name, "sequence": self.sequence,
                "isEnabled": self.is_enabled, "hasError": False, "isReadOnly": False,
                "conditions": self.conditions, "actions": self.actions}

    def matches(self, parsed: mime.Parsed) -> bool:
        name, address = parsed.from_ or ("", "")
        sender, subject = f"{name} {address}".lower(), parsed.subject.lower()
        given = self.conditions
        senders = {str((a.get("emailAddress") or {}).get("address", "")).lower()
                   for a in given.get("fromAddresses") or []}
        tests = {
            "fromAddresses": lambda: address.lower() in senders,
            "senderContains": lambda: any(s.lower() in sender for s in given["senderContains"]),
            "subjectContains": lambda: any(s.lower() in subject for s in given["subjectContains"]),
        }
        return all(test() for key, test in tests.items() if given.get(key))


class RulesApi:
    def __init__(self, world: World) -> None:
        self.world = world
        self._lock = threading.Lock()
        self._rules: dict[str, list[Rule]] = {}  # user id → rules

    def routes(self) -> list[RouteSpec]:
        base = "/{user}/mailFolders/{folder}/messageRules"
        return [
            route("GET", base, self.list_rules, "settings_read"),
            route("POST", base, self.create, "settings_write"),
            route("GET", base + "/{rule}", self.get_rule, "settings_read"),
            route("PATCH", base + "/{rule}", self.update, "settings_write"),
            route("DELETE", base + "/{rule}", self.delete, "settings_write"),
        ]

    # --- on arrival -------------------------------------------------------------------------------
    def destination(self, user: User, parsed: mime.Parsed) -> tuple[str, bool]:
        """Where a message delivered to ``user``'s Inbox ends up, and whether it is read, after the rules."""
        folder, is_read = "inbox", False
        with self._lock:
            rules = sorted((r for r in self._rules.get(user.id, []) if r.is_enabled), key=lambda r: r.sequence)
        for rule in rules:
            if not rule.matches(parsed):
                continue
            actions = rule.actions
            is_read = is_read or bool(actions.get("markAsRead"))
            if actions.get("moveToFolder") and self.world.folder(user.id, str(actions["moveToFolder"])):
                folder = str(actions["moveToFolder"])
            if actions.get("delete"):
                folder = "deleteditems"
            if actions.get("stopProcessingRules"):
                break
        return folder, is_read

    # --- the API ----------------------------------------------------------------------------------
    def _inbox_rules(self, call: Call) -> list[Rule] | GraphResponse:
        assert call.user is not None
        folder = self.world.folder(call.user.id, call.params["folder"])
        inbox = self.world.folder(call.user.id, "inbox")
        if folder is None:
            return not_found()
        if inbox is None or folder.id != inbox.id:
            return bad_request("Message rules are only supported on the Inbox folder.", "ErrorInvalidRequest")
        return self._rules.setdefault(call.user.id, [])

    def _context(self, call: Call, entity: bool) -> str:
        assert call.user is not None
        suffix = "/$entity" if entity else ""
        return f"{call.req.root}/$metadata#users('{odata_key(call.user.id)}')/mailFolders('inbox')/messageRules{suffix}"

    def list_rules(self, call: Call) -> GraphResponse:
        with self._lock:
            rules = self._inbox_rules(call)
            if isinstance(rules, GraphResponse):
                return rules
            values = [r.json() for r in sorted(rules, key=lambda r: r.sequence)]
        return GraphResponse(200, {"@odata.context": self._context(call, False), "value": values})

    def _find(self, call: Call) -> Rule | GraphResponse:
        rules = self._inbox_rules(call)
        if isinstance(rules, GraphResponse):
            return rules
        found = next((r for r in rules if r.id == call.params["rule"]), None)
        return found if found is not None else not_found()

    def get_rule(self, call: Call) -> GraphResponse:
        with self._lock:
            rule = self._find(call)
        if isinstance(rule, GraphResponse):
            return rule
        return GraphResponse(200, {"@odata.context": self._context(call, True), **rule.json()})

    def create(self, call: Call) -> GraphResponse:
        data = json_body(call.req)
        problem = self._invalid(call, data, creating=True)
        if problem is not None:
            return problem
        rule = Rule(base64.urlsafe_b64encode(secrets.token_bytes(8)).decode(), str(data["displayName"]),
                    int(data["sequence"]), bool(data.get("isEnabled", True)),
                    dict(data.get("conditions") or {}), dict(data["actions"]))
        with self._lock:
            rules = self._inbox_rules(call)
            if isinstance(rules, GraphResponse):
                return rules
            rules.append(rule)
        return GraphResponse(201, {"@odata.context": self._context(call, True), **rule.json()})

    def update(self, call: Call) -> GraphResponse:
        data = json_body(call.req)
        problem = self._invalid(call, data, creating=False)
        if problem is not None:
            return problem
        with self._lock:
            rule = self._find(call)
            if isinstance(rule, GraphResponse):
                return rule
            rule.display_name = str(data.get("displayName", rule.display_name))
            rule.sequence = int(data.get("sequence", rule.sequence))
            rule.is_enabled = bool(data.get("isEnabled", rule.is_enabled))
            rule.conditions = dict(data.get("conditions", rule.conditions) or {})
            rule.actions = dict(data.get("actions", rule.actions))
        return GraphResponse(200, {"@odata.context": self._context(call, True), **rule.json()})

    def delete(self, call: Call) -> GraphResponse:
        with self._lock:
            rule = self._find(call)
            if isinstance(rule, GraphResponse):
                return rule
            self._rules[call.user.id if call.user else ""].remove(rule)
        return GraphResponse(204)

    def _invalid(self, call: Call, data: dict[str, Any], *, creating: bool) -> GraphResponse | None:
        """displayName, sequence and actions are required on creation (mailfolder-post-messagerules)."""
        assert call.user is not None
        missing = [k for k in ("displayName", "sequence", "actions") if creating and k not in data]
        if missing:
            return bad_request(f"The property '{missing[0]}' is required.", "ErrorInvalidRequest")
        conditions, actions = data.get("conditions") or {}, data.get("actions") or {}
        unknown = [k for k in conditions if k not in CONDITIONS] + [k for k in actions if k not in ACTIONS]
        if unknown:
            return bad_request(f"'{unknown[0]}' is not emulated (conditions: {', '.join(CONDITIONS)}; "
                               f"actions: {', '.join(ACTIONS)}).", "ErrorInvalidRequest")
        target = actions.get("moveToFolder")
        if target and self.world.folder(call.user.id, str(target)) is None:
            return bad_request("The specified folder could not be found in the store.", "ErrorInvalidRequest")
        return None
