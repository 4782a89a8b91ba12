"""`GraphEmulator`: the loopback Microsoft Graph v1.0 + identity platform, and its control API.

One Starlette app is served twice by uvicorn in background threads: over HTTPS (identity
endpoints, which msal requires to be https; Graph too) and over plain HTTP (Graph under
``/v1.0``; kiota allows plain http for localhost). The TLS certificate comes from a throwaway CA
(`emulators.tls`). See the package docstring for client configuration.
"""

from __future__ import annotations

import argparse
import json
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from emulators.clock import Clock
from emulators.postoffice import PostOffice
from emulators.slow import SlowService
from emulators.tls import TlsMaterial, shared_test_pki

from .batch import run_batch
from .delta import DeltaApi
from .drafts import DraftsApi
from .faults import FaultPlan, unavailable
from .folders import FoldersApi
from .identity import ConsentKnobs, IdentityEndpoints
from .mail import MailApi
from .notifier import Attempt, Notifier
from .reauthorization import ReauthorizationTimer
from .router import GraphRouter, RequestLog, RequestRecord
from .rules import RulesApi
from .state import DEFAULT_TENANT, ROOT_FOLDER, App, Folder, StoredMessage, User, World
from .subscriptions import Subscription, SubscriptionApi, SubscriptionStore
from .throttle import ThrottleGate
from .tokens import TokenService
from .wire import GraphRequest, GraphResponse

JSON_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")


@dataclass(frozen=True)
class EmulatorUrls:
    authority_host: str  # https://127.0.0.1:PORT — msal authority = f"{authority_host}/{tenant}"
    graph_url: str  # http://127.0.0.1:PORT/v1.0 — the SDK adapter's base_url
    graph_tls_url: str  # the same API over https
    ca_path: str  # PEM of the throwaway CA

    def authority(self, tenant: str = DEFAULT_TENANT) -> str:
        return f"{self.authority_host}/{tenant}"

    @property
    def graph_host(self) -> str:
        """For the SDK's AllowedHostsValidator."""
        return urlsplit(self.graph_url).hostname or ""


class _Listener:
    """One uvicorn server on a pre-bound loopback socket, run in a daemon thread."""

    def __init__(self, app: Starlette, host: str, port: int, tls: TlsMaterial | None) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.port: int = self.sock.getsockname()[1]
        config = uvicorn.Config(
            app, host=host, port=self.port, log_level="warning", access_log=False, lifespan="off",
            loop="asyncio", http="h11", timeout_keep_alive=5,
            ssl_certfile=str(tls.server_cert) if tls else None, ssl_keyfile=str(tls.server_key) if tls else None,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       name=f"graph-emulator-{self.port}", daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"emulator listener on port {self.port} did not start")
            time.sleep(0.01)

    def signal_stop(self) -> None:
        self.server.should_exit = True
        self.server.force_exit = True  # don't wait for clients' idle keep-alive connections

    def join(self) -> None:
        self.thread.join(timeout=5)
        self.sock.close()


class GraphEmulator:
    """Start with `start()`; seed with `add_user` / `register_app`; misbehave with `faults`."""

    def __init__(self, post_office: PostOffice | None = None, *, host: str = "127.0.0.1",
                 tls: TlsMaterial | None = None, clock: Clock | None = None, seed: int | None = None) -> None:
        self.host = host
        self.tls = tls or shared_test_pki()
        self.clock = clock or Clock()
        self.post_office = post_office or PostOffice()
        self.world = World(self.clock)
        self.tokens = TokenService(self.world, self.clock)
        self.consent = ConsentKnobs()
        self.faults = FaultPlan(seed)
        self.throttle = ThrottleGate(self.clock)
        self.log = RequestLog()
        self.store = SubscriptionStore(self.clock)
        ca = str(self.tls.ca_cert)
        self.mail = MailApi(self.world, self.post_office, self.clock)
        self.delta = DeltaApi(self.world, self.clock)
        self.drafts = DraftsApi(self.world, self.mail, self.clock)
        self.folders = FoldersApi(self.world)
        self.rules = RulesApi(self.world)
        self.mail.arrival = self.rules.destination
        self.subscription_api = SubscriptionApi(self.world, self.store, self.clock, ca)
        self.notifier = Notifier(self.world, self.store, self.clock, self.faults, ca)
        self.reauthorization = ReauthorizationTimer(self.store, self.clock, self.send_lifecycle_event)
        self.router = GraphRouter(self.world, self.tokens, self.throttle, self.faults, self.clock, self.log)
        # drafts first: their PATCH edits drafts and hands other messages to MailApi
        self.router.add(self.delta.routes() + self.drafts.routes() + self.mail.routes() + self.folders.routes()
                        + self.rules.routes() + self.subscription_api.routes())
        self.batch_text_bodies = False  # True: $batch answers non-JSON bodies as text instead of base64
        self.router.batch_handler = lambda req, principal: run_batch(req, principal, self.router.handle,
                                                                     self.batch_text_bodies)
        self.identity = IdentityEndpoints(self.world, self.tokens, self.consent)
        self.post_office.listen("graph", self.mail.accept_delivery)
        self.app = SlowService(Starlette(routes=[
            Route("/v1.0/{path:path}", self._graph_endpoint, methods=["GET", "POST", "PATCH", "PUT", "DELETE"]),
            *self.identity.routes(),
        ]), self.faults.slow, ("/v1.0/",), unavailable)
        self._listeners: list[_Listener] = []
        self.urls: EmulatorUrls | None = None

    # --- lifecycle -------------------------------------------------------------------------------
    def start(self, http_port: int = 0, https_port: int = 0) -> EmulatorUrls:
        if self.urls:
            return self.urls
        secure = _Listener(self.app, self.host, https_port, self.tls)
        plain = _Listener(self.app, self.host, http_port, None)
        for listener in (secure, plain):
            listener.start()
            self._listeners.append(listener)
        self.notifier.start()
        self.reauthorization.start()
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.urls = EmulatorUrls(
            authority_host=f"https://{host}:{secure.port}",
            graph_url=f"http://{host}:{plain.port}/v1.0",
            graph_tls_url=f"https://{host}:{secure.port}/v1.0",
            ca_path=str(self.tls.ca_cert),
        )
        return self.urls

    def stop(self, wait: bool = True) -> None:
        """Shut down; ``wait=False`` returns at once and lets the listeners finish (~0.2 s) in
        their daemon threads — handy in test fixtures, since every emulator has its own ports."""
        for listener in self._listeners:
            listener.signal_stop()  # both at once: each notices within uvicorn's 0.1 s tick
        self.notifier.stop()
        self.reauthorization.stop()
        if wait:
            for listener in self._listeners:
                listener.join()
        self._listeners.clear()
        self.urls = None

    def __enter__(self) -> GraphEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _graph_endpoint(self, request: Request) -> Response:
        headers: dict[str, str] = {}
        for raw_name, raw_value in request.headers.raw:
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        try:
            body = await request.body()
        except ClientDisconnect:  # the client gave up mid-request (its timeout): nobody to answer, nothing to log
            return Response(status_code=499)
        req = GraphRequest(
            method=request.method, path="/" + request.path_params["path"],
            query=dict(request.query_params.multi_items()), headers=headers, body=body,
            root=str(request.base_url).rstrip("/") + "/v1.0",
        )
        result = await run_in_threadpool(self.router.handle, req)
        return _http_response(result, req)

    # --- seeding ------------------------------------------------------------------------------------
    def add_user(self, address: str, display_name: str = "", tenant_id: str = DEFAULT_TENANT, *, upn: str = "",
                 aliases: tuple[str, ...] = ()) -> User:
        """A user whose mailbox is ``address`` (Graph's ``mail``); ``upn`` is her sign-in name when it differs."""
        user = self.world.add_user(address, display_name or address.partition("@")[0].title(), tenant_id, upn, aliases)
        for smtp in (user.address, *user.aliases):
            self.post_office.register_mailbox(smtp, "graph")
        return user

    def add_shared_mailbox(self, address: str, display_name: str = "", tenant_id: str = DEFAULT_TENANT, *,
                           send_as: tuple[str, ...] = (), send_on_behalf: tuple[str, ...] = ()) -> User:
        """A shared mailbox: a user object nobody signs in as (its account is disabled), readable with app-only
        access; ``send_as`` are the users granted Send As on it (Add-RecipientPermission), ``send_on_behalf``
        those granted Send on Behalf (Set-Mailbox -GrantSendOnBehalfTo)."""
        shared = self.add_user(address, display_name, tenant_id)
        shared.shared = True
        for member in send_as:
            self.grant_send_as(address, member)
        for member in send_on_behalf:
            self.grant_send_on_behalf(address, member)
        return shared

    def grant_send_as(self, mailbox: str, member: str) -> None:
        self._user(mailbox).send_as.add(self._user(member).id)

    def grant_send_on_behalf(self, mailbox: str, member: str) -> None:
        """Set-Mailbox ``mailbox`` -GrantSendOnBehalfTo @{Add=``member``} (any mailbox, shared or a user's)."""
        self._user(mailbox).send_on_behalf.add(self._user(member).id)

    def add_folder(self, address: str, display_name: str, parent: str = ROOT_FOLDER) -> Folder:
        """A user folder (under the root, or under ``parent``: a well-known name or a folder id)."""
        user = self._user(address)
        under = self.world.folder(user.id, parent)
        if under is None:
            raise KeyError(parent)
        folder = self.world.add_folder(user.id, under.id, display_name)
        if folder is None:
            raise ValueError(f"{display_name!r} already exists under {parent!r}")
        return folder

    def register_app(self, client_id: str, client_secret: str, redirect_uris: list[str] | tuple[str, ...] = (),
                     display_name: str = "bcc-capture") -> App:
        app = App(client_id, client_secret, list(redirect_uris), display_name)
        self.world.register_app(app)
        return app

    def add_certificate(self, client_id: str, certificate_pem: str) -> None:
        """Upload a certificate to the app registration (Entra: Certificates & secrets → Certificates)."""
        self.world.apps[client_id].certificates.append(certificate_pem)

    def grant_admin_consent(self, tenant_id: str, client_id: str) -> None:
        self.tokens.grant_admin_consent(tenant_id, client_id)

    def grant_consent(self, address: str, client_id: str, scopes: list[str]) -> None:
        self.tokens.grant_consent(self._user(address).id, client_id, scopes)

    def set_consent(self, mode: str, login_user: str | None = None) -> None:
        """``"approve"``/``"deny"`` answer /authorize and /adminconsent at once; ``"page"`` shows HTML."""
        if mode not in ("page", "approve", "deny"):
            raise ValueError(mode)
        self.consent.mode = mode
        self.consent.login_user = login_user

    def _user(self, address: str) -> User:
        user = self.world.user(address)
        if user is None:
            raise KeyError(f"no such user: {address}")
        return user

    # --- identity knobs ------------------------------------------------------------------------------
    def revoke_grant(self, address: str, client_id: str | None = None, *, notify_subscriptions: bool = True) -> None:
        """Refresh tokens → invalid_grant, access tokens → 401; delegated subscriptions get
        ``reauthorizationRequired`` (and pause) when ``notify_subscriptions``."""
        user = self._user(address)
        self.tokens.revoke(user.id, client_id)
        if notify_subscriptions:
            for sub in self.store.for_mailbox(user.id):
                if sub.delegated_user == user.id and client_id in (None, sub.client_id):
                    self.send_lifecycle_event(sub.id, "reauthorizationRequired")

    def revoke_admin_consent(self, tenant_id: str, client_id: str | None = None) -> None:
        self.tokens.revoke(None, client_id, tenant_id)

    def expire_access_tokens(self, address: str | None = None) -> None:
        self.tokens.expire_access_tokens(self._user(address).id if address else None)

    # --- mailbox knobs -------------------------------------------------------------------------------
    def messages(self, address: str, folder: str | None = None) -> list[StoredMessage]:
        user = self._user(address)
        folder_id = None
        if folder:
            found = self.world.folder(user.id, folder)
            if found is None:
                raise KeyError(folder)
            folder_id = found.id
        return self.world.mailbox_messages(user.id, folder_id)

    def delete_message(self, message_id: str, *, permanently: bool = False) -> bool:
        return self.world.delete(message_id, permanently=permanently)

    def move_message(self, message_id: str, folder: str) -> StoredMessage | None:
        message = self.world.messages[message_id]
        target = self.world.folder(message.user_id, folder)
        if target is None:
            raise KeyError(folder)
        return self.world.move(message_id, target)

    def mark_read(self, message_id: str, is_read: bool = True) -> StoredMessage | None:
        return self.world.update(message_id, is_read=is_read)

    def send(self, sender: str, raw: bytes) -> str:
        """Deliver RFC 5322 bytes through the post office (e.g. mail from an external client)."""
        return self.post_office.send(sender, raw)

    def expire_delta(self, address: str | None = None) -> int:
        """Expire the delta and skip tokens of a mailbox (or all): next use answers 410."""
        return self.delta.expire(self._user(address).id if address else None)

    # --- subscriptions and notifications ---------------------------------------------------------------
    def subscriptions(self) -> list[Subscription]:
        return self.store.all()

    def send_lifecycle_event(self, subscription_id: str, event: str) -> bool:
        """Send a lifecycle notification; ``reauthorizationRequired`` pauses the subscription until
        reauthorized/renewed; ``subscriptionRemoved`` deletes it. False without a lifecycle URL."""
        if event not in LIFECYCLE_EVENTS:
            raise ValueError(event)
        sub = self.store.get(subscription_id)
        if sub is None:
            raise KeyError(subscription_id)
        if event == "reauthorizationRequired":
            sub.paused = True
        sent = self.notifier.send_lifecycle(sub, event)
        if event == "subscriptionRemoved":
            self.store.remove(subscription_id)
        return sent

    def expire_subscription(self, subscription_id: str) -> None:
        sub = self.store.get(subscription_id)
        if sub is not None:
            sub.expiration = self.clock.now() - 1

    def notification_attempts(self) -> list[Attempt]:
        return self.notifier.attempts()

    def wait_for_notifications(self, timeout: float = 5.0) -> bool:
        return self.notifier.wait_idle(timeout)

    # --- throttling and the request log ------------------------------------------------------------
    def set_throttle_limits(self, concurrency: int | None = None, requests_per_window: int | None = None,
                            window_seconds: float | None = None) -> None:
        self.throttle.set_limits(concurrency, requests_per_window, window_seconds)

    def request_log(self) -> list[RequestRecord]:
        return self.log.records()

    def request_counts(self) -> Counter[str]:
        return self.log.counts()

    def clear_request_log(self) -> None:
        self.log.clear()


def _http_response(result: GraphResponse, req: GraphRequest) -> Response:
    headers = {"request-id": req.request_id,
               "client-request-id": req.header("client-request-id") or req.request_id, **result.headers}
    if result.body is None:
        return Response(status_code=result.status, headers=headers)
    if isinstance(result.body, dict | list):
        return Response(json.dumps(result.body).encode(), status_code=result.status, headers=headers,
                        media_type=JSON_TYPE)
    content = result.body.encode() if isinstance(result.body, str) else result.body
    return Response(content, status_code=result.status, headers=headers,
                    media_type=result.content_type or "application/octet-stream")


# --- standalone ---------------------------------------------------------------------------------------
def serve_forever(host: str = "127.0.0.1", http_port: int = 0, https_port: int = 0, *,
                  users: list[tuple[str, str]] | None = None, apps: list[tuple[str, str, list[str]]] | None = None,
                  tenant_id: str = DEFAULT_TENANT, consent: str = "page", admin_consent: bool = False,
                  post_office: PostOffice | None = None) -> None:
    """Run until interrupted (``bcc-capture emulate graph``); prints base URLs and the CA path."""
    emulator = GraphEmulator(post_office, host=host)
    for address, name in users or []:
        emulator.add_user(address, name, tenant_id)
    for client_id, secret, redirects in apps or []:
        emulator.register_app(client_id, secret, redirects)
        if admin_consent:
            emulator.grant_admin_consent(tenant_id, client_id)
    emulator.set_consent(consent)
    urls = emulator.start(http_port, https_port)
    info: dict[str, Any] = {"authority": urls.authority(tenant_id), "graph": urls.graph_url,
                            "graph_tls": urls.graph_tls_url, "ca": urls.ca_path, "tenant": tenant_id}
    print("Microsoft Graph emulator running")
    for key, value in info.items():
        print(f"  {key:<10} {value}")
    print("msal: instance_discovery=False, http_client=requests.Session(verify=ca, trust_env=False)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bcc-capture emulate graph", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--http-port", type=int, default=0)
    parser.add_argument("--https-port", type=int, default=0)
    parser.add_argument("--tenant", default=DEFAULT_TENANT)
    parser.add_argument("--user", action="append", default=[], metavar="ADDRESS[=Display Name]")
    parser.add_argument("--app", action="append", default=[], metavar="CLIENT_ID:SECRET:REDIRECT_URI")
    parser.add_argument("--consent", choices=["page", "approve", "deny"], default="page")
    parser.add_argument("--admin-consent", action="store_true", help="pre-grant admin consent to the apps")
    args = parser.parse_args(argv)
    users = [(u.partition("=")[0], u.partition("=")[2]) for u in args.user]
    apps = []
    for spec in args.app:
        client_id, _, rest = spec.partition(":")
        secret, _, redirect = rest.partition(":")
        apps.append((client_id, secret, [redirect] if redirect else []))
    serve_forever(args.host, args.http_port, args.https_port, users=users, apps=apps, tenant_id=args.tenant,
                  consent=args.consent, admin_consent=args.admin_consent)


if __name__ == "__main__":
    main()
