"""The provider-neutral message envelope.

Every way mail reaches the connector (Graph, Gmail, an .eml file, an SMTP dropbox) ends as one
immutable `Envelope`. The routing core only ever sees envelopes; providers build them.

An envelope may be *header-only* (``complete=False``): providers first hand the core cheap
metadata (recipients, ids, thread keys) so it can decide whether the message matters, and fetch
bodies and attachments only for messages it will log.

An envelope may even be *ids-only* (``ids_only=True``): a change feed that names messages without
their headers (a Gmail history record) gives only the provider ids, the provider thread key and the
direction. The core decides what it can from those; the engine asks the provider for the headers
when it cannot decide without them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from functools import cached_property


class Direction(StrEnum):
    SENT = "sent"
    RECEIVED = "received"


class Source(StrEnum):
    GRAPH = "graph"
    GMAIL = "gmail"
    SMTP = "smtp"  # delivered to the dropbox itself (also `bcc-capture ingest` without --mailbox)
    FILE = "file"  # an .eml read as if from a connected mailbox (`ingest --mailbox`)


MAILBOX_SOURCES = frozenset({Source.GRAPH, Source.GMAIL, Source.FILE})


@dataclass(frozen=True)
class Address:
    """One mailbox address; ``email`` is always lower-cased and stripped."""

    email: str
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "email", self.email.strip().lower())

    @property
    def domain(self) -> str:
        return self.email.rpartition("@")[2]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


@dataclass(frozen=True)
class Attachment:
    """An attachment whose bytes may be fetched lazily (``loader``) by the provider."""

    name: str
    content_type: str
    size: int
    content: bytes | None = field(default=None, repr=False)
    loader: Callable[[], bytes] | None = field(default=None, repr=False, compare=False)
    is_inline: bool = False

    def read(self) -> bytes:
        if self.content is not None:
            return self.content
        if self.loader is None:
            raise ValueError(f"attachment {self.name!r} has no content and no loader")
        return self.loader()


@dataclass(frozen=True)
class ForwardedOriginal:
    """The message quoted inside a forward (a ``message/rfc822`` part or an inline block)."""

    from_: Address | None
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    subject: str = ""
    sent_at: datetime | None = None
    text: str = ""


@dataclass(frozen=True)
class Envelope:
    source: Source
    internet_message_id: str
    subject: str = ""
    mailbox: str = ""  # the connected mailbox it was read from ("" for the dropbox itself)
    provider_message_id: str = ""
    thread_key: str = ""  # provider thread key, already scoped by provider and mailbox
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    from_: Address | None = None
    sender: Address | None = None
    reply_to: tuple[Address, ...] = ()
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    bcc: tuple[Address, ...] = ()
    delivered_to: tuple[Address, ...] = ()
    sent_at: datetime | None = None
    text: str = ""
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()
    direction: Direction | None = None
    headers: tuple[tuple[str, str], ...] = ()
    forwarded: tuple[ForwardedOriginal, ...] = ()
    complete: bool = True  # False: header-only, bodies/attachments not fetched yet
    # True: only ids, the provider thread key and the direction are known (e.g. a Gmail history
    # record); the engine asks the provider for the headers when it cannot decide without them.
    ids_only: bool = False
    # True: the provider says this message opened its provider thread (a new conversation there). A reply
    # whose subject was edited opens a new one (Gmail threads by References *and* subject), so such a message,
    # received in a thread nobody logged, may still name a logged message in In-Reply-To/References.
    opens_thread: bool = False
    problems: tuple[str, ...] = ()  # what the parser could not read or cut at a limit (kept as notes)
    # The RFC 5322 bytes as received, when the message was parsed from them: kept for export (records).
    raw: bytes | None = field(default=None, repr=False, compare=False)

    def header(self, name: str) -> str | None:
        return self._first_of_each_name.get(name.lower())

    @cached_property
    def _first_of_each_name(self) -> dict[str, str]:
        """The first value of each header name (lower case): routing asks for a dozen fields per message."""
        named: dict[str, str] = {}
        for key, value in self.headers:
            named.setdefault(key.lower(), value)
        return named

    @property
    def recipients(self) -> tuple[Address, ...]:
        return self.to + self.cc + self.bcc + self.delivered_to

    @property
    def all_addresses(self) -> tuple[Address, ...]:
        found: tuple[Address, ...] = self.recipients + self.reply_to
        for extra in (self.from_, self.sender):
            if extra is not None:
                found += (extra,)
        return found

    @property
    def related_message_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.in_reply_to + self.references))

    def with_changes(self, **changes: object) -> Envelope:
        return replace(self, **changes)  # type: ignore[arg-type]


def normalize_message_id(value: str) -> str:
    """``<Abc@Host>`` → ``<Abc@host>``-style canonical form used as a key everywhere.

    Message-ids are case-sensitive on the left of the ``@`` (RFC 5322); only the brackets and
    surrounding white space are normalised, plus the domain part, which is case-insensitive.
    """
    value = value.strip()
    if not value:
        return ""
    if not value.startswith("<"):
        value = f"<{value}"
    if not value.endswith(">"):
        value = f"{value}>"
    local, at, domain = value[1:-1].rpartition("@")
    if not at:
        return value
    return f"<{local}@{domain.lower()}>"
