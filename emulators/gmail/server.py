"""`GmailEmulator`: the Gmail API + Google OAuth + Pub/Sub push emulator, served by uvicorn on
loopback in a background thread, with a Python control API for tests, benchmarks and the demo.

    emu = GmailEmulator(post_office)          # or GmailEmulator() for a private post office
    urls = emu.start()                        # GmailUrls(base=..., token_uri=..., ...)
    emu.add_user("ann@firm.example", "Ann")
    emu.register_oauth_client("cid", "secret", ["http://127.0.0.1/cb"])
    ...
    emu.stop()

`serve_forever()` runs it in the foreground for ``bcc-capture emulate gmail``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from emulators.clock import Clock
from emulators.postoffice import Delivery, PostOffice

from . import sendas
from .admin import DEFAULT_ACCOUNT, Admin
from .api import GmailApi
from .app import build_app
from .consent import ConsentScreen
from .faults import Faults
from .filters import Arrival
from .keys import SigningKey
from .oauth import DEFAULT_PROJECT, OAuthServer
from .push import GmailWatches, PubSub, PushAttempt, PushSubscription
from .quota import PER_USER_PER_MINUTE, LoggedCall, QuotaMeter, RequestLog
from .state import Mailbox, MailStore

PUSH_SERVICE_ACCOUNT = "gmail-push@emulated-project.iam.gserviceaccount.com"
GMAIL_READONLY = "https://www.googleapis.com/auth/gmail.readonly"


@dataclass(frozen=True)
class GmailUrls:
    base: str
    api_endpoint: str  # client_options={"api_endpoint": ...} for googleapiclient.discovery.build
    batch_uri: str  # BatchHttpRequest(batch_uri=...)
    auth_uri: str
    token_uri: str
    revoke_uri: str
    userinfo_uri: str
    certs_url: str  # PEM certificates by key id (google.oauth2.id_token.verify_token certs_url)
    jwks_url: str

    @classmethod
    def for_base(cls, base: str) -> GmailUrls:
        return cls(
            base=base,
            api_endpoint=f"{base}/",
            batch_uri=f"{base}/batch/gmail/v1",
            auth_uri=f"{base}/o/oauth2/auth",
            token_uri=f"{base}/token",
            revoke_uri=f"{base}/revoke",
            userinfo_uri=f"{base}/v1/userinfo",
            certs_url=f"{base}/oauth2/v1/certs",
            jwks_url=f"{base}/oauth2/v3/certs",
        )


class GmailEmulator:
    def __init__(
        self,
        post_office: PostOffice | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
        seed: int = 0,
        quota_per_user_per_minute: int = PER_USER_PER_MINUTE,
        quota_units: dict[str, int] | None = None,
    ) -> None:
        self.clock = clock or Clock()
        self.post_office = post_office or PostOffice(clock=self.clock.now)
        self.host, self.port = host, port
        self.keys = SigningKey()
        self.faults = Faults(seed)
        self.store = MailStore(self.clock, seed)
        self.arrival = Arrival(self.clock)  # spam, then the users' filters (users.settings.filters)
        self.store.arrival_labels = self.arrival.labels
        self.oauth = OAuthServer(self.clock, self.keys, self.store.mailbox, self._first_user)
        self.consent = ConsentScreen(self.oauth, self.store.mailboxes)
        self.admin = Admin(self.oauth)
        self.quota = QuotaMeter(self.clock, quota_per_user_per_minute, units=quota_units)
        self.requests = RequestLog()
        self.pubsub = PubSub(self.clock, self.keys, self.faults)
        self.watches = GmailWatches(self.clock, self.pubsub)
        self.store.listen(self.watches.on_history)
        self.api = GmailApi(self.store, self.oauth, self.quota, self.requests, self.faults, self.watches,
                            self.post_office, self.clock)
        self._lock = threading.Lock()
        self._aliases: dict[str, str] = {}  # an admin-given alternate address → the account it routes to
        self._routed: set[tuple[str, str]] = set()  # (account, Message-ID) received by an account with aliases
        self.post_office.listen("gmail", self._on_delivery)
        self.urls: GmailUrls | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> GmailUrls:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self.urls = GmailUrls.for_base(f"http://{self.host}:{self.port}")
        self.oauth.base_url = self.urls.base
        app = build_app(self.api, self.oauth, self.consent, self.keys, self.admin)
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        server = self._server
        self._thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])), name="gmail-emulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the Gmail emulator did not start")
            time.sleep(0.01)
        return self.urls

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.pubsub.close()
        self._server = self._thread = None

    def __enter__(self) -> GmailEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- seeding --------------------------------------------------------------------------------
    def add_user(self, address: str, display_name: str = "", domain: str | None = None) -> Mailbox:
        mailbox = self.store.add_mailbox(address, display_name, domain or "")
        self.post_office.register_mailbox(mailbox.address, "gmail")
        return mailbox

    def add_alias(self, user: str, alias: str) -> None:
        """What a Workspace admin does: give ``user`` an alternate address (email alias), whose mail "automatically
        route[s] to the user's primary email account's inbox" (support.google.com/a/answer/33327). Sending as it
        takes a send-as alias too (`add_send_as`)."""
        mailbox = self.mailbox(user)
        with self._lock:
            self._aliases[alias.lower()] = mailbox.address
        self.post_office.register_mailbox(alias, "gmail")

    def add_send_as(self, user: str, address: str, display_name: str = "") -> dict[str, Any]:
        """What ``user`` does in Gmail's settings (Accounts → "Send mail as"): a custom "from" address under the
        rules of users.settings.sendAs.create (accepted at once, or pending its owner's verification)."""
        mailbox = self.mailbox(user)
        with self.store.lock:
            return sendas.add_alias(mailbox, {"sendAsEmail": address, "displayName": display_name,
                                              "treatAsAlias": True})

    def verify_send_as(self, user: str, address: str) -> None:
        """The address's owner follows the link in Gmail's verification message: the alias is accepted."""
        mailbox = self.mailbox(user)
        with self.store.lock:
            mailbox.send_as[address.lower()]["verificationStatus"] = "accepted"

    def _first_user(self) -> str | None:
        boxes = self.store.mailboxes()
        return boxes[0].address if boxes else None

    def _on_delivery(self, delivery: Delivery) -> None:
        # internalDate on the emulator's own clock, so advance_clock() ages mail and history alike
        # even when the post office is shared with the Graph emulator.
        with self._lock:
            address = self._aliases.get(delivery.mailbox, delivery.mailbox)
            if delivery.folder == "inbox" and address in self._aliases.values():
                # One copy an account, whichever of its addresses (and how many) the message named.
                if (address, delivery.internet_message_id) in self._routed:
                    return
                self._routed.add((address, delivery.internet_message_id))
        self.store.deliver(address, delivery.folder, delivery.raw, delivery.internet_message_id, self.clock.now())

    def register_oauth_client(self, client_id: str, client_secret: str, redirect_uris: list[str],
                              project_id: str = DEFAULT_PROJECT) -> None:
        """``project_id``: the Cloud project the client is created in; Gmail publishes only to its topics."""
        self.oauth.register_client(client_id, client_secret, redirect_uris, project_id)

    def register_service_account(self, email: str, public_key_pem: str, client_id: str,
                                 private_key_id: str = "") -> None:
        self.oauth.register_service_account(email, public_key_pem, client_id, private_key_id or "default")

    def new_service_account(self, email: str, client_id: str = "", private_key_id: str = "") -> dict[str, str]:
        """Register a service account with a fresh key; return its JSON key file contents
        (``POST /emulator/service-accounts`` over HTTP)."""
        assert self.urls is not None, "start() the emulator first (the key file names its token_uri)"
        return self.admin.new_key(email, client_id, private_key_id)

    def authorize_domain_wide_delegation(self, domain: str, client_id: str, scopes: list[str]) -> None:
        self.oauth.authorize_delegation(domain, client_id, scopes)

    def revoke_domain_wide_delegation(self, domain: str, client_id: str) -> None:
        self.oauth.revoke_delegation(domain, client_id)

    def issue_access_token(self, user: str, scopes: list[str], client_id: str = "emulator-control") -> str:
        """A token without a flow, as the emulator's own client (in DEFAULT_PROJECT) or a registered one."""
        return self.oauth.issue_token(user, scopes, client_id)

    # -- consent --------------------------------------------------------------------------------
    def set_consent(self, mode: str = "approve", user: str | None = None, scopes: list[str] | None = None) -> None:
        """mode "approve" | "deny" | "interactive" (a page with Allow/Cancel buttons)."""
        if mode not in ("approve", "deny", "interactive"):
            raise ValueError(mode)
        self.consent.settings.mode, self.consent.settings.user, self.consent.settings.scopes = mode, user, scopes

    # -- push -----------------------------------------------------------------------------------
    def configure_push(
        self,
        topic: str,
        endpoint_url: str,
        audience: str | None = None,
        service_account_email: str = PUSH_SERVICE_ACCOUNT,
        subscription_name: str | None = None,
        *,
        min_backoff: float = 10.0,
        max_backoff: float = 600.0,
        ack_deadline: float = 10.0,
        gmail_can_publish: bool = True,
    ) -> str:
        """Create the topic (Gmail allowed to publish) and a push subscription; return its name."""
        project = topic.split("/")[1] if topic.startswith("projects/") else "emulated-project"
        name = subscription_name or f"projects/{project}/subscriptions/{topic.rsplit('/', 1)[-1]}-push"
        self.pubsub.create_topic(topic, gmail_can_publish)
        self.pubsub.create_subscription(PushSubscription(
            name, topic, endpoint_url, audience or endpoint_url, service_account_email,
            min_backoff, max_backoff, ack_deadline,
        ))
        return name

    def publish_raw(self, topic: str, payload: dict[str, Any]) -> str | None:
        return self.pubsub.publish(topic, json.dumps(payload).encode())

    @property
    def push_attempts(self) -> list[PushAttempt]:
        return list(self.pubsub.attempts)

    def wait_push_idle(self, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pubsub.idle():
                return True
            time.sleep(0.02)
        return False

    def set_push_interval(self, seconds: float) -> None:
        """Minimum emulated seconds between two notifications for one user (Gmail: 1); changes inside it
        notify nobody (0: every change notifies)."""
        self.watches.min_interval = seconds

    def dropped_pushes(self, user: str) -> int:
        """Notifications ``user``'s changes did not get because they came faster than one a second."""
        return self.watches.dropped.get(user.lower(), 0)

    # -- fault knobs ----------------------------------------------------------------------------
    def drop_pushes(self, next_n: int | None = 1, probability: float = 1.0, user: str | None = None) -> None:
        self.faults.add_push_rule("drop", next_n, probability, user=user)

    def duplicate_pushes(self, next_n: int | None = 1, probability: float = 1.0, user: str | None = None) -> None:
        self.faults.add_push_rule("duplicate", next_n, probability, user=user)

    def delay_pushes(self, seconds: float, next_n: int | None = 1, probability: float = 1.0,
                     user: str | None = None) -> None:
        self.faults.add_push_rule("delay", next_n, probability, seconds=seconds, user=user)

    def reorder_pushes(self, window: int = 2) -> None:
        """Hold each group of ``window`` pushes and deliver it newest first (0 turns it off)."""
        self.faults.reorder_window = window

    def clear_push_faults(self) -> None:
        self.faults.clear_push()

    def quota_storm(self, *, next_n: int | None = None, probability: float = 1.0, retry_after: float = 5.0,
                    status: int = 429, methods: list[str] | None = None, user: str | None = None) -> None:
        """Answer matching calls 429 rateLimitExceeded (or 403 userRateLimitExceeded) with Retry-After."""
        self.faults.fail_requests(status, next_n=next_n, probability=probability, retry_after=retry_after,
                                  methods=methods, user=user)

    def fail_requests(self, status: int = 503, *, next_n: int | None = 1, probability: float = 1.0,
                      retry_after: float | None = None, methods: list[str] | None = None,
                      user: str | None = None) -> None:
        self.faults.fail_requests(status, next_n=next_n, probability=probability, retry_after=retry_after,
                                  methods=methods, user=user)

    def clear_request_faults(self) -> None:
        self.faults.clear_requests()

    def set_quota(self, per_user_per_minute: int = PER_USER_PER_MINUTE, error_status: int = 403,
                  units: dict[str, int] | None = None) -> None:
        """The per-user limit (15,000 for a project older than May 2026), its error (403 userRateLimitExceeded
        as documented, or 429) and per-method units replacing the table's."""
        self.quota.per_user_per_minute = per_user_per_minute
        self.quota.error_status = error_status
        self.quota.units.update(units or {})

    def set_batch_overload(self, threshold: int = 50, probability: float = 0.3) -> None:
        self.faults.batch_overload_threshold = threshold
        self.faults.batch_overload_probability = probability

    def expire_history(self, user: str) -> int:
        """Every historyId handed out so far now answers 404; returns the new current id."""
        return self.store.expire_history(user)

    def set_history_retention(self, seconds: float) -> None:
        self.store.history_retention = seconds

    def revoke_grant(self, user: str, client_id: str | None = None) -> int:
        return self.oauth.revoke_grants(user, client_id)

    def expire_access_tokens(self, user: str | None = None) -> int:
        return self.oauth.expire_access_tokens(user)

    def advance_clock(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def set_time_scale(self, scale: float) -> None:
        self.clock.set_scale(scale)

    # -- observation ----------------------------------------------------------------------------
    def request_log(self, user: str | None = None) -> list[LoggedCall]:
        return self.requests.calls(user)

    def request_counts(self, user: str | None = None) -> Counter[str]:
        return self.requests.counts(user)

    def quota_units(self, user: str | None = None) -> Counter[str]:
        return self.requests.units(user)

    def reset_request_log(self) -> None:
        self.requests.clear()

    def mailbox(self, address: str) -> Mailbox:
        found = self.store.mailbox(address)
        if found is None:
            raise KeyError(address)
        return found

    def classify_as_spam(self, *senders: str) -> None:
        """Google's spam classifier (no API steers it): mail from these addresses or ``@domains`` arrives
        labelled SPAM instead of INBOX; the user rescues it with messages.modify (Not spam)."""
        self.arrival.spam_senders.update(s.lower() for s in senders)

    def modify_labels(self, user: str, message_id: str, add: list[str] | None = None,
                      remove: list[str] | None = None) -> None:
        self.store.modify(user, message_id, add or [], remove or [])


def serve_forever(
    host: str = "127.0.0.1",
    port: int = 8025,
    users: list[str] | None = None,
    oauth_clients: list[tuple[str, str, list[str]]] | None = None,
    post_office: PostOffice | None = None,
    service_account_key: str | None = None,
) -> None:
    """Run the emulator in the foreground until interrupted; print its URLs first. With
    ``service_account_key`` (a path), write a service account's JSON key there, delegated gmail.readonly
    on every user's domain: the connector reads those mailboxes with no consent (domain-wide delegation)."""
    emulator = GmailEmulator(post_office, host=host, port=port)
    urls = emulator.start()
    for address in users or []:
        emulator.add_user(address)
    for client_id, secret, redirects in oauth_clients or []:
        emulator.register_oauth_client(client_id, secret, redirects)
    print(f"Gmail emulator listening on {urls.base}", flush=True)
    for name, value in vars(urls).items():
        print(f"  {name:13} {value}", flush=True)
    if service_account_key:
        key = emulator.new_service_account(DEFAULT_ACCOUNT)
        for domain in sorted({address.rpartition("@")[2].lower() for address in users or []}):
            emulator.authorize_domain_wide_delegation(domain, key["client_id"], [GMAIL_READONLY])
        Path(service_account_key).write_text(json.dumps(key, indent=2))
        print(f"  service account key {service_account_key} (client id {key['client_id']}, delegated "
              "gmail.readonly): set gmail.service_account_file to it", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
