"""The emulated directory and mail store: tenants, users, apps, folders, messages, changes.

One `World` holds everything behind a single re-entrant lock; handlers take it for the few
microseconds a read or write needs. Every change to a message appends a `Change` (created,
updated, deleted) with a global sequence number: delta queries read the log after a sequence
number, and listeners (the notifier) hear each change as it happens.

Message ids are immutable-style: a message keeps its id when it moves between folders, which
is what Graph does for clients that send ``Prefer: IdType="ImmutableId"``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from emulators.clock import Clock

from . import conversations, mime
from .wire import change_key, exchange_id, new_guid

WELL_KNOWN_FOLDERS = {
    "inbox": "Inbox",
    "sentitems": "Sent Items",
    "drafts": "Drafts",
    "deleteditems": "Deleted Items",
    "archive": "Archive",
}
DEFAULT_TENANT = "8d4f1a3e-5b2c-4e6f-9a7b-1c2d3e4f5a6b"


@dataclass
class Tenant:
    id: str
    domain: str


@dataclass
class User:
    id: str  # the Entra object id (the tokens' `oid`)
    address: str  # lower-case primary SMTP address: Graph's `mail`
    display_name: str
    tenant_id: str
    # The sign-in name (UPN), often not the mail address in work tenants; tokens carry it as preferred_username,
    # which the ID token claims reference (learn.microsoft.com/entra/identity-platform/id-token-claims-reference)
    # calls mutable and not necessarily an email address: identify users by oid + tid.
    upn: str = ""
    aliases: list[str] = field(default_factory=list)  # further SMTP addresses (proxyAddresses "smtp:")

    @property
    def principal_name(self) -> str:
        return self.upn or self.address


@dataclass
class App:
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    display_name: str = "bcc-capture"
    certificates: list[str] = field(default_factory=list)  # PEM certificates uploaded to the registration


@dataclass
class Folder:
    id: str
    user_id: str
    well_known: str
    display_name: str
    parent_id: str


@dataclass
class StoredMessage:
    id: str
    user_id: str
    folder_id: str
    raw: bytes
    parsed: mime.Parsed
    created: float
    received: float
    last_modified: float
    change_key: str
    conversation_id: str
    conversation_index: str
    is_read: bool
    attachment_ids: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    is_draft: bool = False
    # Only a copy that came in from the transport has internet headers: Sent Items copies (and drafts)
    # have none ("internet headers just do not exist on the copy in Sent Items", jasonjoh, Microsoft,
    # microsoftgraph/microsoft-graph-docs#2716); their $value still carries In-Reply-To/References.
    internet_headers: bool = False


@dataclass(frozen=True)
class Change:
    seq: int
    user_id: str
    message_id: str
    folder_id: str  # the folder this change concerns (old folder for a move-out)
    kind: str  # "created" | "updated" | "deleted"


ChangeListener = Callable[[Change], None]


class World:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.tenants: dict[str, Tenant] = {}
        self.users: dict[str, User] = {}
        self._by_address: dict[str, str] = {}
        self.apps: dict[str, App] = {}
        self.folders: dict[str, Folder] = {}
        self._well_known: dict[tuple[str, str], str] = {}
        self.messages: dict[str, StoredMessage] = {}
        self.changes: list[Change] = []
        self._seq = 0
        self._listeners: list[ChangeListener] = []

    # --- directory --------------------------------------------------------------------------
    def add_tenant(self, tenant_id: str, domain: str = "") -> Tenant:
        with self.lock:
            tenant = self.tenants.get(tenant_id)
            if tenant is None:
                tenant = Tenant(tenant_id, domain or f"{tenant_id[:8]}.onmicrosoft.com")
                self.tenants[tenant_id] = tenant
            return tenant

    def tenant_for(self, key: str) -> Tenant | None:
        """A tenant by id or domain (the ``{tenant}`` segment of an authority)."""
        with self.lock:
            key = key.lower()
            return self.tenants.get(key) or next(
                (t for t in self.tenants.values() if t.domain.lower() == key), None
            )

    def add_user(self, address: str, display_name: str, tenant_id: str, upn: str = "",
                 aliases: tuple[str, ...] = ()) -> User:
        with self.lock:
            existing = self.user(address)
            if existing:
                return existing
            domain = address.rpartition("@")[2]
            self.add_tenant(tenant_id, domain)
            user = User(new_guid(), address.lower(), display_name, tenant_id, upn.lower(), [a.lower() for a in aliases])
            self.users[user.id] = user
            for key in (user.address, user.upn, *user.aliases):
                if key:
                    self._by_address[key] = user.id
            root = exchange_id("AAMkAGI2")
            for name, title in WELL_KNOWN_FOLDERS.items():
                folder = Folder(exchange_id("AAMkAGI2"), user.id, name, title, root)
                self.folders[folder.id] = folder
                self._well_known[(user.id, name)] = folder.id
            return user

    def user(self, key: str) -> User | None:
        """By id, userPrincipalName or any SMTP address, case-insensitive."""
        with self.lock:
            return self.users.get(key) or self.users.get(self._by_address.get(key.lower(), ""))

    def register_app(self, app: App) -> None:
        with self.lock:
            self.apps[app.client_id] = app

    def folder(self, user_id: str, key: str) -> Folder | None:
        with self.lock:
            folder_id = self._well_known.get((user_id, key.lower()), key)
            folder = self.folders.get(folder_id)
            return folder if folder and folder.user_id == user_id else None

    def user_folders(self, user_id: str) -> list[Folder]:
        with self.lock:
            return [f for f in self.folders.values() if f.user_id == user_id]

    # --- messages ----------------------------------------------------------------------------
    def on_change(self, listener: ChangeListener) -> None:
        with self.lock:
            self._listeners.append(listener)

    def current_seq(self) -> int:
        with self.lock:
            return self._seq

    def _record(self, user_id: str, message_id: str, folder_id: str, kind: str) -> Change:
        self._seq += 1
        change = Change(self._seq, user_id, message_id, folder_id, kind)
        self.changes.append(change)
        return change

    def _emit(self, changes: list[Change]) -> None:
        for change in changes:
            for listener in list(self._listeners):
                listener(change)

    def store(self, user: User, folder_name: str, raw: bytes, received: float, is_read: bool, *,
              is_draft: bool = False, internet_headers: bool = False) -> StoredMessage:
        parsed = mime.parse(raw)
        with self.lock:
            folder = self.folder(user.id, folder_name)
            assert folder is not None
            # By topic and Thread-Index, as Exchange does: see `conversations` for the documentation.
            conversation_id = conversations.conversation_id(user.id, parsed.subject)
            index = conversations.index_of(parsed, received)
            message = StoredMessage(
                id=exchange_id(),
                user_id=user.id,
                folder_id=folder.id,
                raw=raw,
                parsed=parsed,
                created=received,
                received=received,
                last_modified=received,
                change_key=change_key(),
                conversation_id=conversation_id,
                conversation_index=index,
                is_read=is_read,
                attachment_ids=[exchange_id("AAMkAGI2ATT") for _ in parsed.attachments],
                is_draft=is_draft,
                internet_headers=internet_headers,
            )
            self.messages[message.id] = message
            change = self._record(user.id, message.id, folder.id, "created")
        self._emit([change])
        return message

    def update(self, message_id: str, *, is_read: bool | None = None,
               categories: list[str] | None = None) -> StoredMessage | None:
        with self.lock:
            message = self.messages.get(message_id)
            if message is None:
                return None
            if is_read is not None:
                message.is_read = is_read
            if categories is not None:
                message.categories = list(categories)
            message.last_modified = self.clock.now()
            message.change_key = change_key()
            change = self._record(message.user_id, message.id, message.folder_id, "updated")
        self._emit([change])
        return message

    def replace_content(self, message_id: str, raw: bytes) -> StoredMessage | None:
        """A draft edited by PATCH: new bytes, same item, id and conversation."""
        parsed = mime.parse(raw)
        with self.lock:
            message = self.messages.get(message_id)
            if message is None:
                return None
            message.raw, message.parsed = raw, parsed
            message.attachment_ids = [exchange_id("AAMkAGI2ATT") for _ in parsed.attachments]
            message.last_modified = self.clock.now()
            message.change_key = change_key()
            change = self._record(message.user_id, message.id, message.folder_id, "updated")
        self._emit([change])
        return message

    def move(self, message_id: str, folder: Folder) -> StoredMessage | None:
        with self.lock:
            message = self.messages.get(message_id)
            if message is None:
                return None
            if message.folder_id == folder.id:
                return message
            old = message.folder_id
            message.folder_id = folder.id
            message.last_modified = self.clock.now()
            message.change_key = change_key()
            changes = [
                self._record(message.user_id, message.id, old, "deleted"),
                self._record(message.user_id, message.id, folder.id, "created"),
            ]
        self._emit(changes)
        return message

    def delete(self, message_id: str, permanently: bool = False) -> bool:
        """Graph's DELETE moves to Deleted Items; deleting from there (or permanently) erases."""
        with self.lock:
            message = self.messages.get(message_id)
            if message is None:
                return False
            bin_folder = self.folder(message.user_id, "deleteditems")
            if not permanently and bin_folder and message.folder_id != bin_folder.id:
                self.move(message_id, bin_folder)
                return True
            del self.messages[message_id]
            change = self._record(message.user_id, message.id, message.folder_id, "deleted")
        self._emit([change])
        return True

    def mailbox_messages(self, user_id: str, folder_id: str | None = None) -> list[StoredMessage]:
        """Newest first, like Graph's default ordering of message lists."""
        with self.lock:
            found = [
                m for m in self.messages.values()
                if m.user_id == user_id and (folder_id is None or m.folder_id == folder_id)
            ]
        return sorted(found, key=lambda m: (m.received, m.id), reverse=True)

    def changes_after(self, user_id: str, folder_id: str, seq: int, upto: int) -> list[Change]:
        with self.lock:
            return [
                c for c in self.changes
                if seq < c.seq <= upto and c.user_id == user_id and c.folder_id == folder_id
            ]
