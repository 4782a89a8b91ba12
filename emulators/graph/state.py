"""The emulated directory and mail store: tenants, users, apps, folders, messages, changes.

One `World` holds everything behind a single re-entrant lock; handlers take it for the few
microseconds a read or write needs. Every change to a message appends a `Change` (created,
updated, deleted) with a global sequence number: delta queries read the log after a sequence
number, and listeners (the notifier) hear each change as it happens.

A message has two ids, as in Exchange (learn.microsoft.com/graph/outlook-immutable-id): its immutable id
(``id``, the key everywhere here), which survives moves within the mailbox, and its default REST id
(``rest_id``), which "changes when the item is moved from one container to another". Clients that send
``Prefer: IdType="ImmutableId"`` see the first, others the second (`ids`); both are accepted in paths.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from emulators.clock import Clock

from . import conversations, mime
from .wire import change_key, exchange_id, new_guid

# Well-known folder names (learn.microsoft.com/graph/api/resources/mailfolder#well-known-folder-names), each a
# child of the root, ``msgfolderroot`` ("Top of Information Store").
WELL_KNOWN_FOLDERS = {
    "inbox": "Inbox",
    "sentitems": "Sent Items",
    "drafts": "Drafts",
    "deleteditems": "Deleted Items",
    "archive": "Archive",
    "junkemail": "Junk Email",
    "outbox": "Outbox",
    "conversationhistory": "Conversation History",
}
ROOT_FOLDER = "msgfolderroot"
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
    # A shared mailbox is a user object whose account is disabled: nobody signs in as it; members reach it
    # with mailbox permissions, and those with Send As write as it (learn.microsoft.com/exchange/collaboration-
    # exo/shared-mailboxes; learn.microsoft.com/graph/outlook-send-mail-from-other-user).
    shared: bool = False
    send_as: set[str] = field(default_factory=set)  # ids of users with Send As on this mailbox
    # Ids of users with Send on Behalf (Set-Mailbox -GrantSendOnBehalfTo): their mail names this mailbox in
    # From and themselves in Sender (learn.microsoft.com/graph/outlook-send-mail-from-other-user).
    send_on_behalf: set[str] = field(default_factory=set)

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
    is_hidden: bool = False


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
    rest_id: str = ""  # the default (non-immutable) id: the immutable one until the first move, new on each move

    def __post_init__(self) -> None:
        self.rest_id = self.rest_id or self.id


@dataclass(frozen=True)
class Change:
    seq: int
    user_id: str
    message_id: str
    folder_id: str  # the folder this change concerns (old folder for a move-out)
    kind: str  # "created" | "updated" | "deleted"
    rest_id: str = ""  # the message's default id in that folder (what a client without immutable ids saw there)


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
        self._rest_ids: dict[str, str] = {}  # default id after a move → immutable id
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
            root = Folder(exchange_id("AAMkAGI2"), user.id, ROOT_FOLDER, "Top of Information Store", "")
            self.folders[root.id] = root
            self._well_known[(user.id, ROOT_FOLDER)] = root.id
            for name, title in WELL_KNOWN_FOLDERS.items():
                folder = Folder(exchange_id("AAMkAGI2"), user.id, name, title, root.id)
                self.folders[folder.id] = folder
                self._well_known[(user.id, name)] = folder.id
            return user

    def add_folder(self, user_id: str, parent_id: str, display_name: str, is_hidden: bool = False) -> Folder | None:
        """A user folder under ``parent_id``; None when the parent already has one of that name (any case)."""
        with self.lock:
            if any(f.parent_id == parent_id and f.display_name.lower() == display_name.lower()
                   for f in self.folders.values()):
                return None
            folder = Folder(exchange_id("AAMkAGI2"), user_id, "", display_name, parent_id, is_hidden)
            self.folders[folder.id] = folder
            return folder

    def child_folders(self, folder_id: str) -> list[Folder]:
        with self.lock:
            return [f for f in self.folders.values() if f.parent_id == folder_id]

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

    def message(self, key: str) -> StoredMessage | None:
        """A message by its immutable id or its current default id (an old default id names nothing)."""
        with self.lock:
            found = self.messages.get(key) or self.messages.get(self._rest_ids.get(key, ""))
            return found if found is None or key in (found.id, found.rest_id) else None

    # --- messages ----------------------------------------------------------------------------
    def on_change(self, listener: ChangeListener) -> None:
        with self.lock:
            self._listeners.append(listener)

    def current_seq(self) -> int:
        with self.lock:
            return self._seq

    def _record(self, user_id: str, message_id: str, folder_id: str, kind: str, rest_id: str = "") -> Change:
        self._seq += 1
        known = self.messages.get(message_id)
        change = Change(self._seq, user_id, message_id, folder_id, kind,
                        rest_id or (known.rest_id if known else message_id))
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
            old, old_rest = message.folder_id, message.rest_id
            # A move makes a new item in the destination (learn.microsoft.com/graph/api/message-move: "creates a
            # new copy of the message in the destination folder and removes the original"): a new default id.
            message.folder_id, message.rest_id = folder.id, exchange_id()
            self._rest_ids[message.rest_id] = message.id
            message.last_modified = self.clock.now()
            message.change_key = change_key()
            changes = [
                self._record(message.user_id, message.id, old, "deleted", old_rest),
                self._record(message.user_id, message.id, folder.id, "created", message.rest_id),
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
            change = self._record(message.user_id, message.id, message.folder_id, "deleted", message.rest_id)
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
