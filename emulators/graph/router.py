"""Dispatch of Graph v1.0 requests: path normalisation, bearer check, faults, throttling, log.

Every request, direct or inside a JSON ``$batch``, runs the same pipeline:

    normalise path → authenticate bearer → resolve mailbox (me / users/{id|upn}) and check access
    → injected fault (knob) → per-app+mailbox throttle gate → handler → request log

Paths accept the spellings clients send: ``mailFolders('inbox')`` and ``mailFolders/inbox``,
``messages/delta``, ``messages/delta()`` (msgraph-sdk) and ``messages/microsoft.graph.delta``.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from emulators.clock import Clock

from .faults import FaultPlan
from .odata import QueryError
from .state import User, World
from .throttle import ThrottleGate
from .tokens import TokenService
from .wire import IMMUTABLE_IDS, GraphRequest, GraphResponse, Principal, graph_error

logger = logging.getLogger(__name__)


@dataclass
class Call:
    req: GraphRequest
    params: dict[str, str]
    principal: Principal
    user: User | None  # the mailbox named by the path, when there is one


Handler = Callable[[Call], GraphResponse]


# Delegated scopes / application roles that satisfy each kind of mail permission.
PERMISSIONS = {
    "read": {"Mail.ReadBasic", "Mail.Read", "Mail.ReadWrite", "Mail.ReadBasic.All"},
    "write": {"Mail.ReadWrite"},
    "send": {"Mail.Send"},
    "settings_read": {"MailboxSettings.Read", "MailboxSettings.ReadWrite"},  # inbox rules
    "settings_write": {"MailboxSettings.ReadWrite"},
}


@dataclass(frozen=True)
class RouteSpec:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    name: str
    permission: str | None = None  # a key of PERMISSIONS


def route(method: str, template: str, handler: Handler, permission: str | None = None) -> RouteSpec:
    """``/{user}/messages/{message}`` → regex; ``{user}`` matches ``me`` or ``users/{id}``."""
    regex = re.escape(template).replace(r"\{user\}", r"(?:me|users/(?P<user>[^/]+))")
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", regex)
    return RouteSpec(method, re.compile(regex, re.IGNORECASE), handler, f"{method} {template}", permission)


def normalize(path: str) -> str:
    path = re.sub(r"\('([^']*)'\)", r"/\1", path)
    path = re.sub(r"/microsoft\.graph\.(\w+)", r"/\1", path, flags=re.IGNORECASE)
    path = re.sub(r"/(\w+)\(\)", r"/\1", path)
    path = re.sub(r"^/v1\.0(?=/|$)", "", path)
    return "/" + path.strip("/")


@dataclass(frozen=True)
class RequestRecord:
    at: float  # emulated epoch seconds
    method: str
    path: str
    endpoint: str  # route template, e.g. "GET /{user}/mailFolders/{folder}/messages/delta"
    status: int
    client_id: str
    mailbox: str  # user id, or "" when the request names no mailbox
    in_batch: bool


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def counts(self) -> Counter[str]:
        return Counter(r.endpoint for r in self.records())

    def clear(self) -> None:
        with self._lock:
            self._records.clear()


def _unauthorized(message: str) -> GraphResponse:
    return graph_error(401, "InvalidAuthenticationToken", message, headers={
        "WWW-Authenticate": 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/'
                            'oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000", '
                            'error="invalid_token"'})


class GraphRouter:
    def __init__(self, world: World, tokens: TokenService, throttle: ThrottleGate, faults: FaultPlan,
                 clock: Clock, log: RequestLog) -> None:
        self.world, self.tokens, self.throttle, self.faults = world, tokens, throttle, faults
        self.clock, self.log = clock, log
        self.routes: list[RouteSpec] = []
        self.batch_handler: Callable[[GraphRequest, Principal], GraphResponse] | None = None

    def add(self, specs: list[RouteSpec]) -> None:
        self.routes.extend(specs)

    def authenticate(self, req: GraphRequest) -> Principal | GraphResponse:
        header = req.header("authorization")
        if not header.lower().startswith("bearer ") or not header[7:].strip():
            return _unauthorized("Access token is empty.")
        check = self.tokens.check(header[7:].strip())
        if check.grant is None:
            return _unauthorized(check.problem)
        grant = check.grant
        return Principal(grant.client_id, grant.tenant_id, grant.user_id, grant.scopes, grant.roles, grant.expires)

    def handle(self, req: GraphRequest) -> GraphResponse:
        token = IMMUTABLE_IDS.set(req.prefer().get("idtype", "").lower() == "immutableid")
        try:
            return self._handle(req)
        finally:
            IMMUTABLE_IDS.reset(token)

    def _handle(self, req: GraphRequest) -> GraphResponse:
        path = normalize(req.path)
        endpoint, mailbox, client_id = f"{req.method} <unmatched>", "", ""
        response: GraphResponse
        auth = self.authenticate(req)
        if isinstance(auth, GraphResponse):
            response = auth
        else:
            client_id = auth.client_id
            req.principal = auth
            if path == "/$batch" and req.method == "POST" and not req.in_batch and self.batch_handler:
                endpoint = "POST /$batch"
                response = self.batch_handler(req, auth)
            else:
                response, endpoint, mailbox = self._dispatch(req, path, auth)
        if req.prefer().get("idtype", "").lower() == "immutableid" and response.status < 400:
            applied = response.headers.get("Preference-Applied")
            response.headers["Preference-Applied"] = ", ".join(
                p for p in (applied, 'IdType="ImmutableId"') if p)
        self.log.add(RequestRecord(self.clock.now(), req.method, req.path, endpoint, response.status,
                                   client_id, mailbox, req.in_batch))
        return response

    def _match(self, method: str, path: str) -> tuple[RouteSpec | None, dict[str, str], bool]:
        path_known = False
        for spec in self.routes:
            found = spec.pattern.fullmatch(path)
            if found:
                path_known = True
                if spec.method == method:
                    return spec, {k: v for k, v in found.groupdict().items() if v is not None}, True
        return None, {}, path_known

    def _dispatch(self, req: GraphRequest, path: str, principal: Principal) -> tuple[GraphResponse, str, str]:
        spec, params, path_known = self._match(req.method, path)
        if spec is None:
            if path_known:
                return graph_error(405, "Request_BadRequest", "Specified HTTP method is not allowed for "
                                   "the request target."), f"{req.method} <unmatched>", ""
            segment = path.rstrip("/").rpartition("/")[2]
            return graph_error(400, "BadRequest", f"Resource not found for the segment '{segment}'."), \
                f"{req.method} <unmatched>", ""
        user: User | None = None
        if spec.name.split(" ", 1)[1].startswith("/{user}"):
            resolved = self._mailbox(params.get("user"), principal)
            if isinstance(resolved, GraphResponse):
                return resolved, spec.name, ""
            user = resolved
        mailbox = user.id if user else ""
        if spec.permission and not PERMISSIONS[spec.permission] & set(principal.scopes + principal.roles):
            return graph_error(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."), \
                spec.name, mailbox
        injected = self.faults.take_http_error(path)
        if injected:
            return self._injected(injected.status, injected.retry_after), spec.name, mailbox
        key = (principal.client_id, mailbox or "-")
        decision = self.throttle.enter(key)
        if decision:
            return graph_error(429, decision.code, decision.message,
                               headers={"Retry-After": str(decision.retry_after)}), spec.name, mailbox
        try:
            pause = self.faults.take_response_delay()
            if pause:
                time.sleep(pause)
            response = spec.handler(Call(req, params, principal, user))
        except QueryError as err:
            response = graph_error(400, err.code, str(err))
        except Exception:  # a bug in the emulator must still answer in Graph's shape
            logger.exception("emulator handler failed: %s %s", req.method, req.path)
            response = graph_error(500, "generalException", "An unspecified error has occurred.")
        finally:
            self.throttle.leave(key)
        return response, spec.name, mailbox

    def _mailbox(self, key: str | None, principal: Principal) -> User | GraphResponse:
        if key is None:  # /me
            if principal.app_only:
                return graph_error(400, "BadRequest", "/me request is only valid with delegated authentication flow.")
            key = principal.user_id or ""
        user = self.world.user(key)
        # `GET /users/{id | userPrincipalName}` (learn.microsoft.com/graph/api/user-get): a mail address that is
        # not the UPN names nobody there, so a client holding only a user's address must not be answered.
        if user is None or key.lower() not in (user.id.lower(), user.principal_name.lower()):
            return graph_error(404, "ErrorInvalidUser", f"The requested user '{key}' is invalid.")
        if principal.app_only:
            if user.tenant_id != principal.tenant_id or not principal.roles:
                return graph_error(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        elif user.id != principal.user_id:
            return graph_error(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        return user

    @staticmethod
    def _injected(status: int, retry_after: int | None) -> GraphResponse:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        if status == 429:
            return graph_error(429, "TooManyRequests", "Please retry again later.", headers=headers,
                               inner={"code": "429", "message": "Please retry after", "status": "429"})
        if status == 503:
            return graph_error(503, "serviceNotAvailable", "The service is not available. Try the request "
                               "again after a delay. There may be a Retry-After header.", headers=headers)
        return graph_error(status, "generalException", "An unspecified error has occurred.", headers=headers)
