"""What routing read of the directory (users, their addresses, companies, roles, contacts, matters, exclusions),
kept by the process across transactions and valid while the versions it was read at stand.

`models.directory` bumps a company's version (and, for users and their addresses, every company's) in the same
transaction as any change, so a record created in the console is seen by the very next message filed: each
transaction reads the versions it needs first (one small query per company), then uses whatever the process
read at those same versions, and asks the database only for the rest. What it reads is offered back to the
process at the end of the batch (`publish`), except what it read of a company after changing it itself.

`Answers` is a dict that falls back to the process's entries: `SqlRepository` keeps its per-transaction memos in
them, so its look-up code does not change. Rows are kept as copies no session owns, read and never modified.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, col, select

from connector.models.directory import BUMPED, EVERY_COMPANY, DirectoryVersion

MAX_ENTRIES = 20_000  # per database and process, least recently used first out: ~3 KB a contact, 60 MB at most
RECENT_TENANTS = 64  # companies whose versions every transaction reads up front (one query, whoever it files for)
Tag = tuple[int | None, int | None]  # (every company's version, the company's) when the entry was read
TenantOf = Callable[[Any], int | None]  # which company an entry's key belongs to (None: no company's own)


class Shared:
    """One process's entries for one database."""

    def __init__(self, limit: int = MAX_ENTRIES) -> None:
        self.lock = threading.Lock()
        self.entries: OrderedDict[tuple[str, Hashable], tuple[Tag, object]] = OrderedDict()
        self.limit = limit
        self.tenants: OrderedDict[int, None] = OrderedDict()  # companies whose versions were read lately

    def recent_tenants(self) -> list[int]:
        with self.lock:
            return list(self.tenants)

    def saw_tenants(self, tenant_ids: Iterable[int]) -> None:
        with self.lock:
            for tenant_id in tenant_ids:
                self.tenants[tenant_id] = None
                self.tenants.move_to_end(tenant_id)
            while len(self.tenants) > RECENT_TENANTS:
                self.tenants.popitem(last=False)

    def get(self, name: str, key: Hashable, tag: Tag) -> tuple[bool, object]:
        with self.lock:
            found = self.entries.get((name, key))
            if found is None or found[0] != tag:
                return False, None
            self.entries.move_to_end((name, key))
            return True, found[1]

    def put(self, items: Iterable[tuple[str, Hashable, Tag, object]]) -> None:
        with self.lock:
            for name, key, tag, value in items:
                self.entries[(name, key)] = (tag, value)
                self.entries.move_to_end((name, key))
            while len(self.entries) > self.limit:
                self.entries.popitem(last=False)


_SHARED: weakref.WeakKeyDictionary[Engine, Shared] = weakref.WeakKeyDictionary()
_REGISTRY_LOCK = threading.Lock()


def shared_for(engine: Engine) -> Shared:
    with _REGISTRY_LOCK:
        if engine not in _SHARED:
            _SHARED[engine] = Shared()
        return _SHARED[engine]


class Versions:
    """The versions one transaction reads, each once and before any entry of its company is used or loaded."""

    def __init__(self, session: Session, shared: Shared) -> None:
        self.session = session
        self.shared = shared
        self.read: dict[int, int | None] = {}
        # Every company's row and those of the companies this process filed for lately, in one query up front.
        self.need([EVERY_COMPANY, *shared.recent_tenants()])

    def need(self, tenant_ids: Iterable[int]) -> None:
        missing = sorted({t for t in tenant_ids if t not in self.read})
        if not missing:
            return
        self.read.update(dict.fromkeys(missing))
        self.read.update(self.session.exec(select(DirectoryVersion.tenant_id, DirectoryVersion.version).where(
            col(DirectoryVersion.tenant_id).in_(missing))).all())
        self.shared.saw_tenants(t for t in missing if t != EVERY_COMPANY)

    def tag(self, tenant_id: int | None) -> Tag:
        if tenant_id is None:
            return self.read[EVERY_COMPANY], None
        if tenant_id not in self.read:
            self.need([tenant_id])
        return self.read[EVERY_COMPANY], self.read[tenant_id]

    def publishable(self, tenant_id: int | None) -> bool:
        """False once this transaction changed the company (or every company): what it reads now is its own."""
        bumped = self.session.info.get(BUMPED, ())
        return EVERY_COMPANY not in bumped and (tenant_id is None or tenant_id not in bumped)


class Answers(dict[Any, Any]):
    """A transaction's memo of one kind of look-up, backed by the process's entries."""

    def __init__(self, name: str, shared: Shared, versions: Versions, tenant_of: TenantOf) -> None:
        super().__init__()
        self.name, self.shared, self.versions, self.tenant_of = name, shared, versions, tenant_of
        self.loaded: set[Any] = set()  # keys this transaction asked the database about

    def __contains__(self, key: object) -> bool:
        if dict.__contains__(self, key):
            return True
        hit, value = self.shared.get(self.name, key, self.versions.tag(self.tenant_of(key)))  # type: ignore[arg-type]
        if hit:
            dict.__setitem__(self, key, value)
        return hit

    def __getitem__(self, key: Any) -> Any:
        if key not in self:
            raise KeyError(key)
        return dict.__getitem__(self, key)

    def get(self, key: Any, default: Any = None) -> Any:
        return dict.__getitem__(self, key) if key in self else default

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return dict.__getitem__(self, key)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.versions.tag(self.tenant_of(key))
        dict.__setitem__(self, key, value)
        self.loaded.add(key)

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def publish(self) -> None:
        tags = {}
        for key in self.loaded:
            tenant_id = self.tenant_of(key)
            if self.versions.publishable(tenant_id):
                tags[key] = self.versions.tag(tenant_id)
        self.shared.put((self.name, key, tag, _snapshot(dict.__getitem__(self, key))) for key, tag in tags.items())
        self.loaded.clear()


def _snapshot(value: Any) -> Any:
    """A row as a detached copy no session owns: the instance this transaction read is expired by its rollback
    (a lost race, retried) or by a commit that expires, and another thread would then fail to read it.

    Made as the ORM makes a loaded row (a new instance, its column values set) rather than through the model's
    constructor, a tenth of the cost: a batch of an archive import publishes hundreds of contacts."""
    if not isinstance(value, SQLModel):
        return value
    mapper = sa_inspect(type(value))
    loaded = value.__dict__
    keys = [column.key for column in mapper.column_attrs]
    if any(key not in loaded for key in keys):  # expired or never loaded: read through the model
        return type(value)(**value.model_dump())
    copy = mapper.class_manager.new_instance()
    copy.__dict__.update({key: loaded[key] for key in keys})
    return copy


def tenant_first(key: tuple[Any, ...]) -> int | None:
    """Keys (tenant id, …): the users, contacts and numbered records of a company."""
    return key[0]


def memo_tenant(key: tuple[Any, ...]) -> int | None:
    """The repository's memo keys (kind, …): a company's own for its row and its exclusions, else none."""
    return key[1] if key[0] in ("tenant", "exclusions") else None
