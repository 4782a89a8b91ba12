"""``/subscriptions``: create (with the validation handshake), list, get, renew, delete, reauthorize.

Creating a subscription first validates ``notificationUrl`` (and ``lifecycleNotificationUrl``):
the emulator POSTs ``{url}?validationToken=<token>`` (``Content-Type: text/plain; charset=utf-8``)
and wants ``200``, ``text/plain`` and the URL-decoded token back within ``validation_timeout``
seconds (10, as on Graph). The token contains spaces and a colon, as Graph's does, so a receiver
that echoes it still URL-encoded fails. Failures answer ``400 ValidationError``; a timeout answers
``400 InvalidRequest`` ("Subscription validation request timed out.").

Message subscriptions live at most ``max_minutes`` (10,080) and at least 45 minutes: earlier
expirations are rejected with 400; later ones are rejected too (``expiration_policy="reject"``,
default) or shortened to the maximum (``"clamp"``); clients must use the returned value either way.
Plain-``http`` notification URLs are accepted (loopback tests) unless ``require_https`` is set.
``includeResourceData`` (rich notifications) is not emulated and answers 400.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from emulators.clock import Clock

from .mail import json_body
from .outbound import outbound_client
from .router import PERMISSIONS, Call, RouteSpec, normalize, route
from .state import World
from .wire import GraphResponse, Principal, graph_error, iso7, new_guid, parse_iso

_RESOURCE = re.compile(r"^/(?:me|users/(?P<user>[^/]+))(?:/mailFolders/(?P<folder>[^/]+))?/messages$",
                       re.IGNORECASE)
CHANGE_TYPES = {"created", "updated", "deleted"}


@dataclass
class Subscription:
    id: str
    resource: str
    user_id: str
    folder_id: str | None  # None: the whole mailbox (``me/messages``)
    change_types: set[str]
    change_type_text: str
    notification_url: str
    lifecycle_url: str | None
    client_state: str | None
    expiration: float
    client_id: str
    creator_id: str
    tenant_id: str
    delegated_user: str | None
    paused: bool = False  # reauthorizationRequired and not yet reauthorized
    token_expires: float = 0.0  # when the access token it was created or last renewed with expires
    warned_token: float = 0.0  # the token_expires last warned about (reauthorization.py)

    def json(self, root: str, *, context: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {"@odata.context": f"{root}/$metadata#subscriptions/$entity"} if context else {}
        data.update({
            "id": self.id, "resource": self.resource, "applicationId": self.client_id,
            "changeType": self.change_type_text, "clientState": self.client_state,
            "notificationUrl": self.notification_url, "notificationQueryOptions": None,
            "lifecycleNotificationUrl": self.lifecycle_url, "expirationDateTime": iso7(self.expiration),
            "creatorId": self.creator_id, "includeResourceData": False, "latestSupportedTlsVersion": "v1_2",
            "encryptionCertificate": None, "encryptionCertificateId": None, "notificationUrlAppId": None,
        })
        return data


class SubscriptionStore:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._subs: dict[str, Subscription] = {}

    def add(self, sub: Subscription) -> None:
        with self._lock:
            self._subs[sub.id] = sub

    def get(self, sub_id: str) -> Subscription | None:
        with self._lock:
            self._purge()
            return self._subs.get(sub_id)

    def remove(self, sub_id: str) -> Subscription | None:
        with self._lock:
            return self._subs.pop(sub_id, None)

    def all(self) -> list[Subscription]:
        with self._lock:
            self._purge()
            return list(self._subs.values())

    def for_mailbox(self, user_id: str) -> list[Subscription]:
        return [s for s in self.all() if s.user_id == user_id]

    def _purge(self) -> None:
        """Graph deletes subscriptions that were not renewed in time."""
        now = self.clock.now()
        for sub_id in [k for k, s in self._subs.items() if s.expiration <= now]:
            del self._subs[sub_id]


class SubscriptionApi:
    def __init__(self, world: World, store: SubscriptionStore, clock: Clock, ca_path: str | None) -> None:
        self.world, self.store, self.clock = world, store, clock
        self.max_minutes = 10_080
        self.min_minutes = 45
        self.expiration_policy = "reject"
        self.validation_timeout = 10.0
        self.require_https = False
        self.max_per_mailbox = 1000
        self._http = outbound_client(ca_path)

    def routes(self) -> list[RouteSpec]:
        return [
            route("POST", "/subscriptions", self.create),
            route("GET", "/subscriptions", self.list_all),
            route("GET", "/subscriptions/{subscription}", self.get),
            route("PATCH", "/subscriptions/{subscription}", self.update),
            route("DELETE", "/subscriptions/{subscription}", self.delete),
            route("POST", "/subscriptions/{subscription}/reauthorize", self.reauthorize),
        ]

    # --- helpers ---------------------------------------------------------------------------------------
    def _expiration(self, value: Any) -> float | GraphResponse:
        try:
            wanted = parse_iso(str(value))
        except (TypeError, ValueError):
            return graph_error(400, "InvalidRequest", "expirationDateTime is missing or not a valid DateTimeOffset.")
        now = self.clock.now()
        if wanted < now + self.min_minutes * 60:
            return graph_error(400, "InvalidRequest", "Subscription expiration can only be at least "
                               f"{self.min_minutes} minutes in the future.")
        ceiling = now + self.max_minutes * 60
        if wanted > ceiling:
            if self.expiration_policy == "clamp":
                return ceiling
            return graph_error(400, "InvalidRequest",
                               f"Subscription expiration can only be {self.max_minutes} minutes in the future.")
        return wanted

    def _owned(self, call: Call) -> Subscription | GraphResponse:
        sub = self.store.get(call.params["subscription"])
        if sub is None or not _may_manage(call.principal, sub):
            return graph_error(404, "ResourceNotFound", "The object was not found.")
        return sub

    def _validate(self, url: str) -> GraphResponse | None:
        token = f"Validation: Testing client application reachability for subscription Request-Id: {new_guid()}"
        target = f"{url}{'&' if '?' in url else '?'}validationToken={quote(token)}"
        try:
            reply = self._http.post(target, content=b"", timeout=self.validation_timeout,
                                    headers={"Content-Type": "text/plain; charset=utf-8"})
        except httpx.TimeoutException:
            return graph_error(400, "InvalidRequest", "Subscription validation request timed out.")
        except httpx.HTTPError:
            return graph_error(400, "ValidationError", "Subscription validation request failed. Notification "
                               "endpoint must respond with 200 OK to validation request.")
        if reply.status_code != 200:
            return graph_error(400, "ValidationError", "Subscription validation request failed. Notification "
                               "endpoint must respond with 200 OK to validation request.")
        if not reply.headers.get("content-type", "").lower().startswith("text/plain") or reply.text != token:
            return graph_error(400, "ValidationError", "Subscription validation request failed. Response must "
                               "exactly match validationToken query parameter.")
        return None

    # --- handlers --------------------------------------------------------------------------------------
    def create(self, call: Call) -> GraphResponse:
        data = json_body(call.req)
        principal = call.principal
        change_text = str(data.get("changeType") or "")
        changes = {c.strip() for c in change_text.split(",") if c.strip()}
        if not changes or not changes <= CHANGE_TYPES:
            return graph_error(400, "InvalidRequest", f"Invalid changeType '{change_text}'.")
        if data.get("includeResourceData"):
            return graph_error(400, "InvalidRequest", "includeResourceData (rich notifications) is not "
                               "supported by the emulator.")
        client_state = data.get("clientState")
        if client_state is not None and len(str(client_state)) > 128:
            return graph_error(400, "InvalidRequest", "clientState must be at most 128 characters.")
        resource = str(data.get("resource") or "")
        found = _RESOURCE.match(normalize("/" + resource.lstrip("/")))
        if not found:
            return graph_error(400, "InvalidRequest", f"Resource '{resource}' is not supported.")
        user_key = found.group("user") or principal.user_id
        user = self.world.user(user_key or "")
        if user is None:
            return graph_error(404, "ErrorInvalidUser", f"The requested user '{user_key}' is invalid.")
        readable = bool(PERMISSIONS["read"] & set(principal.scopes + principal.roles))
        allowed = readable and (user.tenant_id == principal.tenant_id if principal.app_only
                                else user.id == principal.user_id)
        if not allowed:
            return graph_error(403, "ExtensionError", "Operation: Create; Exception: [Status Code: Forbidden; "
                               "Reason: Access is denied. Check credentials and try again.]")
        folder_id = None
        if found.group("folder"):
            folder = self.world.folder(user.id, found.group("folder"))
            if folder is None:
                return graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
            folder_id = folder.id
        if len(self.store.for_mailbox(user.id)) >= self.max_per_mailbox:
            return graph_error(403, "ExtensionError", "Operation: Create; Exception: [Status Code: Forbidden; "
                               "Reason: The maximum number of subscriptions for this mailbox has been reached.]")
        expiration = self._expiration(data.get("expirationDateTime"))
        if isinstance(expiration, GraphResponse):
            return expiration
        urls = [str(data.get("notificationUrl") or "")]
        if data.get("lifecycleNotificationUrl"):
            urls.append(str(data["lifecycleNotificationUrl"]))
        for url in urls:
            if not re.match(r"^https?://", url) or (self.require_https and not url.startswith("https://")):
                return graph_error(400, "InvalidRequest", f"Invalid notification url '{url}'.")
            problem = self._validate(url)
            if problem:
                return problem
        sub = Subscription(
            id=new_guid(), resource=resource, user_id=user.id, folder_id=folder_id, change_types=changes,
            change_type_text=change_text, notification_url=urls[0],
            lifecycle_url=urls[1] if len(urls) > 1 else None,
            client_state=str(client_state) if client_state is not None else None, expiration=expiration,
            client_id=principal.client_id, creator_id=principal.user_id or principal.client_id,
            tenant_id=user.tenant_id, delegated_user=principal.user_id, token_expires=principal.expires,
        )
        self.store.add(sub)
        return GraphResponse(201, sub.json(call.req.root))

    def list_all(self, call: Call) -> GraphResponse:
        subs = [s.json(call.req.root, context=False) for s in self.store.all() if _may_manage(call.principal, s)]
        return GraphResponse(200, {"@odata.context": f"{call.req.root}/$metadata#subscriptions", "value": subs})

    def get(self, call: Call) -> GraphResponse:
        sub = self._owned(call)
        return sub if isinstance(sub, GraphResponse) else GraphResponse(200, sub.json(call.req.root))

    def update(self, call: Call) -> GraphResponse:
        sub = self._owned(call)
        if isinstance(sub, GraphResponse):
            return sub
        data = json_body(call.req)
        if "lifecycleNotificationUrl" in data:
            return graph_error(400, "InvalidRequest", "lifecycleNotificationUrl can only be set when the "
                               "subscription is created.")
        if "expirationDateTime" in data:
            expiration = self._expiration(data["expirationDateTime"])
            if isinstance(expiration, GraphResponse):
                return expiration
            sub.expiration = expiration
        if "notificationUrl" in data:
            problem = self._validate(str(data["notificationUrl"]))
            if problem:
                return problem
            sub.notification_url = str(data["notificationUrl"])
        sub.paused = False  # renewing also reauthorizes
        sub.token_expires = call.principal.expires
        return GraphResponse(200, sub.json(call.req.root))

    def delete(self, call: Call) -> GraphResponse:
        sub = self._owned(call)
        if isinstance(sub, GraphResponse):
            return sub
        self.store.remove(sub.id)
        return GraphResponse(204)

    def reauthorize(self, call: Call) -> GraphResponse:
        sub = self._owned(call)
        if isinstance(sub, GraphResponse):
            return sub
        sub.paused = False
        sub.token_expires = call.principal.expires
        return GraphResponse(204)


def _may_manage(principal: Principal, sub: Subscription) -> bool:
    if principal.client_id != sub.client_id:
        return False
    return principal.tenant_id == sub.tenant_id if principal.app_only else principal.user_id == sub.delegated_user

