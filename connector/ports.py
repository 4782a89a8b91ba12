"""The narrow interface the sync engine drives every mail provider through.

A provider adapter (Graph, Gmail) turns its API's objects into `connector.mail.envelope.Envelope`s and
its SDK's exceptions into `connector.errors`. It never decides what to log: it reads changes,
hands header-only (or ids-only) envelopes to the engine, and reads headers or fetches full
messages only when asked.

Cursors are opaque strings owned by the adapter (a JSON of Graph delta links, a Gmail history
id). The engine stores the cursor returned with a page in the same transaction as the rows that
page produced, so a crash replays the page harmlessly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from connector.mail.envelope import Envelope


@dataclass(frozen=True)
class MailboxRef:
    """Which mailbox to talk to, and how to authenticate for it."""

    mailbox_id: int
    address: str  # the user's address (Graph user id / Gmail userId "me" resolves to it)
    provider_user_id: str = ""  # Graph user id (GUID) when known
    credentials: str = ""  # decrypted token material (serialized MSAL cache / Google credentials JSON)
    app_only: bool = False  # tenant-wide access: app token (Graph) / domain-wide delegation (Gmail)
    page_size: int = 0  # records to ask for per page (Graph odata.maxpagesize, Gmail maxResults); 0: the adapter's
    timeout: float = 0.0  # seconds one request may take before it counts as timed out; 0: the adapter's


@dataclass(frozen=True)
class ChangePage:
    """One page of mailbox changes, as header-only or ids-only envelopes, plus the cursor after it."""

    envelopes: Sequence[Envelope]
    cursor: str
    more: bool = False  # another page is ready now
    removed: Sequence[str] = ()  # provider message ids deleted/moved out (for information)


@dataclass(frozen=True)
class Subscription:
    """A Graph subscription or a Gmail watch."""

    subscription_id: str
    expires_at: datetime
    client_state: str = ""


@dataclass(frozen=True)
class ApiUsage:
    """Counters an adapter keeps for benchmarks and metrics."""

    http_requests: int = 0
    quota_units: int = 0
    bytes_downloaded: int = 0
    by_endpoint: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Connected:
    """The outcome of a completed consent: whose mailbox, and the token material to keep (encrypted)."""

    address: str
    credentials: str
    provider_user_id: str = ""
    display_name: str = ""


class ConsentFlow(Protocol):
    """Per-user OAuth consent (authorization code + PKCE). The web console drives it.

    ``begin`` returns the provider's authorization URL and the state to keep server-side until the
    redirect comes back; ``finish`` exchanges the code. Consent denied and state mismatch raise
    `connector.errors.InputError` subclasses with a message fit for the user.
    """

    def begin(self, redirect_uri: str, login_hint: str | None = None) -> tuple[str, dict[str, str]]: ...

    def finish(self, flow_state: dict[str, str], callback_params: dict[str, str]) -> Connected: ...


@dataclass(frozen=True)
class Notification:
    """A provider's push reduced to what the intake needs: which mailbox has news.

    Graph notifications carry the subscription's ``client_state``, compared with the stored secret;
    Gmail pushes carry none (``None``) because their OIDC token was verified while parsing.
    """

    subscription_id: str = ""
    address: str = ""
    client_state: str | None = None
    lifecycle_event: str = ""  # Graph: reauthorizationRequired | subscriptionRemoved | missed

    @property
    def checks_client_state(self) -> bool:
        return self.client_state is not None


class NotificationParser(Protocol):
    def handshake(self, query: Mapping[str, str]) -> str | None:
        """The text to echo when the call is the provider's endpoint validation (Graph's validationToken), else None."""

    def parse(self, headers: Mapping[str, str], body: bytes, url: str) -> list[Notification]:
        """The notifications in one webhook call; raises WebhookRejected for forged or malformed calls."""


@runtime_checkable
class Directory(Protocol):
    """Who an organization holds, for tenant-wide access (Microsoft: Graph's user directory).

    ``user_id`` finds the directory user whose mailbox answers to ``address`` (primary address, alias or sign-in
    name) and gives the id to bind the mailbox to, or None when the organization has no such user."""

    def user_id(self, graph_tenant_id: str, address: str) -> str | None: ...


class SignIn(Protocol):
    """Sign-in to the console with an identity provider (OpenID Connect, authorization code + PKCE)."""

    name: str  # the URL segment: /signin/{name}
    label: str  # what the button says: "Sign in with {label}"

    def begin(self, redirect_uri: str, login_hint: str | None = None) -> tuple[str, dict[str, Any]]:
        """The provider's authorization URL and the flow state to keep (encrypted) until the callback.

        ``login_hint``: the address this browser last signed in with; the provider preselects that account."""

    def finish(self, state: dict[str, Any], params: dict[str, str]) -> str:
        """The signed-in address (lower case); raises `connector.errors.SignInFailed` otherwise."""


@runtime_checkable
class Provider(Protocol):
    name: str  # "graph" | "gmail"
    # Pushes closer together than this are dropped, not coalesced (Gmail: one a second per user): a sync woken by
    # a push reads once more this long after it, or mail arriving just after the push waits for the safety net.
    push_settle_seconds: float

    def start_cursor(self, mailbox: MailboxRef) -> str:
        """A cursor at 'now' (latest delta link / current history id) for a new mailbox."""

    def read_changes(self, mailbox: MailboxRef, cursor: str) -> ChangePage:
        """One page of changes after ``cursor``. Raises CursorExpired when it is too old."""

    def recent(self, mailbox: MailboxRef, since: datetime) -> ChangePage:
        """Header-only envelopes of messages since ``since`` plus a fresh cursor (bounded resync)."""

    def thread(self, mailbox: MailboxRef, envelope: Envelope) -> Sequence[Envelope]:
        """Header-only envelopes of the other messages in ``envelope``'s provider thread."""

    def find(self, mailbox: MailboxRef, internet_message_id: str) -> Envelope | None:
        """This mailbox's copy of a message, header-only, by its RFC 5322 Message-ID (None if absent).

        Used when a thread opens in one mailbox: the other participants' mailboxes look up their
        copy, then pull the rest of their own provider thread (replies only they received).
        """

    def headers(self, mailbox: MailboxRef, envelopes: Sequence[Envelope]) -> Sequence[Envelope]:
        """Header-only envelopes for the given ids-only ones, batched (messages gone meanwhile are left out).

        A provider whose change feed never yields ids-only envelopes returns them unchanged.
        """

    def fetch_full(self, mailbox: MailboxRef, envelopes: Sequence[Envelope]) -> Sequence[Envelope]:
        """Complete envelopes (bodies, attachments) for the given header-only or ids-only ones, batched."""

    def subscribe(self, mailbox: MailboxRef, notification_url: str, now: datetime, client_state: str) -> Subscription:
        """Create (or recreate) the push subscription / watch (Graph echoes ``client_state`` back)."""

    def renew(self, mailbox: MailboxRef, subscription: Subscription, now: datetime) -> Subscription:
        """Extend it before it expires."""

    def unsubscribe(self, mailbox: MailboxRef, subscription: Subscription) -> None: ...

    def usage(self) -> ApiUsage: ...

    def take_credential_updates(self) -> dict[int, str]:
        """Token material that changed since the last call (rotated refresh tokens), by mailbox id."""
