"""What the routing core may read, and nothing else: a narrow, read-only repository.

`SqlRepository` answers from the database with indexed look-ups only (no scans over contacts or
activities), so routing cost stays flat as a tenant grows. It lives for one transaction and remembers
every answer: `prefetch` asks a whole batch's questions in one query per kind, and the writer
(`connector.routing.apply.Writer`) tells it about every thread key, activity, person and thread target it
adds, so a later message of the batch sees them although their rows are inserted only at the batch's end.
Its answers about the directory (users, companies, contacts, matters…) outlive it: the process keeps them for
later transactions while the directory's versions stand (`connector.routing.directory`, `publish`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from typing import Protocol, TypeVar

from sqlmodel import Session, col, select

from connector.config import DropboxSettings
from connector.mail.envelope import Address, Envelope
from connector.models import (
    Activity,
    Exclusion,
    Record,
    RecordKind,
    RetiredAddress,
    Role,
    RolePermission,
    SenderAddress,
    Tenant,
    ThreadKey,
    ThreadTarget,
    User,
    Wall,
)
from connector.routing import directory, threads
from connector.routing.addresses import Scheme, parse_dropbox_address

T = TypeVar("T")
CHUNK = 2_000  # values per IN list: well under SQLite's and PostgreSQL's parameter limits
_PEOPLE = (RecordKind.CONTACT.value, RecordKind.LEAD.value)
_NUMBERED = {Scheme.MATTER: RecordKind.MATTER.value, Scheme.PROJECT: RecordKind.PROJECT.value}


class Repository(Protocol):
    def tenant(self, tenant_id: int) -> Tenant | None: ...
    def tenant_by_slug(self, slug: str) -> Tenant | None: ...
    def user(self, user_id: int) -> User | None: ...
    def user_by_token(self, token: str) -> User | None: ...
    def is_retired_token(self, token: str) -> bool: ...
    def user_by_login(self, email: str) -> User | None: ...
    def user_by_sender_address(self, email: str) -> User | None: ...
    def tenant_users_by_address(self, tenant_id: int, emails: Iterable[str]) -> dict[str, User]: ...
    def role_permissions(self, role_id: int) -> set[str]: ...
    def exclusions(self, tenant_id: int, user_id: int | None) -> set[str]: ...
    def record_by_number(self, tenant_id: int, kind: RecordKind, number: str) -> Record | None: ...
    def people_by_email(self, tenant_id: int, kind: RecordKind, emails: Iterable[str]) -> dict[str, Record]: ...
    def records(self, ids: Iterable[int]) -> Sequence[Record]: ...
    def thread_for_keys(self, tenant_id: int, keys: Iterable[str]) -> int | None: ...
    def thread_targets(self, thread_id: int) -> list[int]: ...
    def activity_id(self, tenant_id: int, internet_message_id: str) -> int | None: ...
    def walled_records(self, user_id: int) -> frozenset[int]: ...


def earliest(thread_ids: Iterable[int]) -> int:
    """The thread a message joins when its keys name several: the oldest. Threads opened in this batch have
    provisional negative ids (connector.routing.apply.Writer): they come after every stored one, in order."""
    return min(thread_ids, key=lambda t: (t < 0, abs(t)))


def chunks(values: Sequence[T]) -> Iterable[Sequence[T]]:
    for start in range(0, len(values), CHUNK):
        yield values[start:start + CHUNK]


class SqlRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        # The directory (users, companies, roles, contacts, numbered records, exclusions): answers the process
        # read in earlier transactions stand while the directory's versions do (connector.routing.directory).
        shared = directory.shared_for(session.get_bind())  # type: ignore[arg-type]
        self._versions = directory.Versions(session, shared)
        answers = partial(directory.Answers, shared=shared, versions=self._versions)
        # (tenant id, address) → the user it belongs to, or None.
        self._tenant_users: dict[tuple[int, str], User | None] = answers("users", tenant_of=directory.tenant_first)
        self._memo: dict[tuple[object, ...], object] = answers("memo", tenant_of=directory.memo_tenant)
        self._people: dict[tuple[int, str, str], Record | None] = answers(  # (tenant, kind, e-mail) → lowest id
            "people", tenant_of=directory.tenant_first)
        self._numbered: dict[tuple[int, str, str], Record | None] = answers("numbered",
                                                                            tenant_of=directory.tenant_first)
        # Rows capture itself writes, per transaction: an absent key means "not asked yet", None "there is none".
        self._thread_keys: dict[tuple[int, str], int | None] = {}
        self._activities: dict[tuple[int, str], tuple[int, int] | None] = {}  # → (activity id, thread id)
        self._targets: dict[int, set[int]] = {}
        self._walls: dict[int, frozenset[int]] = {}  # per transaction: a wall added applies to the next message

    def publish(self) -> None:
        """Offer what this transaction read of the directory to the process's later transactions."""
        for answers in (self._tenant_users, self._memo, self._people, self._numbered):
            answers.publish()  # type: ignore[attr-defined]

    def _remembered(self, key: tuple[object, ...], load: Callable[[], T]) -> T:
        if key not in self._memo:
            self._memo[key] = load()
        return self._memo[key]  # type: ignore[return-value]

    # ----------------------------------------------------------------- companies and users (never written here)
    def tenant(self, tenant_id: int) -> Tenant | None:
        return self._remembered(("tenant", tenant_id), lambda: self.session.get(Tenant, tenant_id))

    def tenant_by_slug(self, slug: str) -> Tenant | None:
        return self._remembered(("slug", slug), lambda: self.session.exec(
            select(Tenant).where(Tenant.slug == slug)).first())

    def user(self, user_id: int) -> User | None:
        return self.session.get(User, user_id)

    def user_by_token(self, token: str) -> User | None:
        return self._remembered(("token", token), lambda: self.session.exec(
            select(User).where(User.dropbox_token == token)).first())

    def is_retired_token(self, token: str) -> bool:
        return self._remembered(("retired", token), lambda: self.session.exec(
            select(RetiredAddress.id).where(RetiredAddress.token == token)).first() is not None)

    def user_by_login(self, email: str) -> User | None:
        email = email.lower()
        return self._remembered(("login", email),
                                lambda: self.session.exec(select(User).where(User.email == email)).first())

    def user_by_sender_address(self, email: str) -> User | None:
        """The user who may send from ``email``: their login, or a verified extra address (F8)."""
        return self._remembered(("sender", email.lower()), lambda: self._user_by_sender_address(email.lower()))

    def _user_by_sender_address(self, email: str) -> User | None:
        user = self.user_by_login(email)
        if user is not None:
            return user
        statement = (
            select(User)
            .join(SenderAddress, col(SenderAddress.user_id) == col(User.id))
            .where(SenderAddress.email == email, col(SenderAddress.verified_at).is_not(None))
        )
        return self.session.exec(statement).first()

    def tenant_users_by_address(self, tenant_id: int, emails: Iterable[str]) -> dict[str, User]:
        wanted = sorted({e.lower() for e in emails})
        missing = [e for e in wanted if (tenant_id, e) not in self._tenant_users]
        for part in chunks(missing):
            found: dict[str, User] = {}
            for user in self.session.exec(
                select(User).where(User.tenant_id == tenant_id, col(User.email).in_(part))
            ):
                found[user.email] = user
            statement = (
                select(SenderAddress.email, User)
                .join(User, col(SenderAddress.user_id) == col(User.id))
                .where(User.tenant_id == tenant_id, col(SenderAddress.email).in_(part),
                       col(SenderAddress.verified_at).is_not(None))
            )
            for email, user in self.session.exec(statement):
                found.setdefault(email, user)
            for email in part:
                self._tenant_users[(tenant_id, email)] = found.get(email)
        return {e: user for e in wanted if (user := self._tenant_users[(tenant_id, e)]) is not None}

    def role_permissions(self, role_id: int) -> set[str]:
        return self._remembered(("permissions", role_id), lambda: set(self.session.exec(
            select(RolePermission.permission).where(RolePermission.role_id == role_id))))

    def role(self, role_id: int) -> Role | None:
        return self.session.get(Role, role_id)

    def exclusions(self, tenant_id: int, user_id: int | None) -> set[str]:
        return self._remembered(("exclusions", tenant_id, user_id), lambda: set(self.session.exec(
            select(Exclusion.pattern).where(Exclusion.tenant_id == tenant_id,
                                            col(Exclusion.user_id).is_(None) | (Exclusion.user_id == user_id)))))

    def walled_records(self, user_id: int) -> frozenset[int]:
        """The records an ethical wall keeps ``user_id`` away from (connector/services/visibility.py)."""
        if user_id not in self._walls:
            self._walls[user_id] = frozenset(self.session.exec(select(Wall.record_id).where(Wall.user_id == user_id)))
        return self._walls[user_id]

    # ----------------------------------------------------------------- records
    def record_by_number(self, tenant_id: int, kind: RecordKind, number: str) -> Record | None:
        key = (tenant_id, kind.value, number)
        if key not in self._numbered:
            self._numbered[key] = self.session.exec(select(Record).where(
                Record.tenant_id == tenant_id, Record.kind == kind.value, Record.number == number)).first()
        return self._numbered[key]

    def people_by_email(self, tenant_id: int, kind: RecordKind, emails: Iterable[str]) -> dict[str, Record]:
        wanted = sorted({e.lower() for e in emails})
        missing = [e for e in wanted if (tenant_id, kind.value, e) not in self._people]
        if missing:
            self._load_people([tenant_id], [kind.value], missing)
        return {e: found for e in wanted if (found := self._people[(tenant_id, kind.value, e)]) is not None}

    def _load_people(self, tenant_ids: Sequence[int], kinds: Sequence[str], emails: Sequence[str]) -> None:
        for part in chunks(emails):
            for tenant_id in tenant_ids:
                for kind in kinds:
                    for email in part:
                        self._people.setdefault((tenant_id, kind, email), None)
            # Sorted here, not by ORDER BY id: that leads SQLite to walk every record of the tenant by id
            # instead of seeking (tenant, kind, e-mail) in the index.
            statement = select(Record).where(col(Record.tenant_id).in_(tenant_ids), col(Record.kind).in_(kinds),
                                             col(Record.email).in_(part))
            for record in sorted(self.session.exec(statement), key=lambda r: r.id or 0):
                key = (record.tenant_id, record.kind, str(record.email))
                if self._people.get(key) is None:  # the lowest id wins, as one query ordered by id would give
                    self._people[key] = record

    def records(self, ids: Iterable[int]) -> Sequence[Record]:
        wanted = sorted(set(ids))
        if not wanted:
            return []
        return self.session.exec(select(Record).where(col(Record.id).in_(wanted))).all()

    def remember_record(self, record: Record) -> None:
        """A record the writer created: later messages of the batch find it by e-mail or number."""
        if record.email is not None and self._people.get((record.tenant_id, record.kind, record.email)) is None:
            self._people[(record.tenant_id, record.kind, record.email)] = record
        if record.number is not None:
            self._numbered[(record.tenant_id, record.kind, record.number)] = record

    # ----------------------------------------------------------------- threads and activities
    def thread_for_keys(self, tenant_id: int, keys: Iterable[str]) -> int | None:
        found = self.threads_by_key(tenant_id, keys)
        return earliest(found.values()) if found else None

    def threads_by_key(self, tenant_id: int, keys: Iterable[str]) -> dict[str, int]:
        """The thread each of ``keys`` already belongs to (keys of no thread left out)."""
        wanted = sorted({k for k in keys if k})
        missing = [k for k in wanted if (tenant_id, k) not in self._thread_keys]
        if missing:
            self._load_thread_keys([tenant_id], missing)
        return {k: found for k in wanted if (found := self._thread_keys[(tenant_id, k)]) is not None}

    def _load_thread_keys(self, tenant_ids: Sequence[int], keys: Sequence[str]) -> None:
        for part in chunks(keys):
            self._thread_keys.update({(t, k): None for t in tenant_ids for k in part})
            statement = select(ThreadKey.tenant_id, ThreadKey.key, ThreadKey.thread_id).where(
                col(ThreadKey.tenant_id).in_(tenant_ids), col(ThreadKey.key).in_(part))
            for tenant_id, key, thread_id in self.session.exec(statement):
                self._thread_keys[(tenant_id, key)] = thread_id

    def remember_thread_key(self, tenant_id: int, key: str, thread_id: int) -> None:
        self._thread_keys[(tenant_id, key)] = thread_id

    def thread_targets(self, thread_id: int) -> list[int]:
        return sorted(self.thread_target_set(thread_id))

    def thread_target_set(self, thread_id: int) -> set[int]:
        """The thread's records, as a set the writer adds to (loaded once per transaction)."""
        if thread_id not in self._targets:
            self._load_targets([thread_id])
        return self._targets[thread_id]

    def _load_targets(self, thread_ids: Sequence[int]) -> None:
        for part in chunks(thread_ids):
            self._targets.update({t: set() for t in part})
            statement = select(ThreadTarget.thread_id, ThreadTarget.record_id).where(
                col(ThreadTarget.thread_id).in_(part))
            for thread_id, record_id in self.session.exec(statement):
                self._targets[thread_id].add(record_id)

    def opened_thread(self, thread_id: int) -> None:
        self._targets[thread_id] = set()

    def activity_id(self, tenant_id: int, internet_message_id: str) -> int | None:
        found = self.activity(tenant_id, internet_message_id)
        return found[0] if found else None

    def activity(self, tenant_id: int, internet_message_id: str) -> tuple[int, int] | None:
        """The logged activity of a message and its thread."""
        if (tenant_id, internet_message_id) not in self._activities:
            self._load_activities([tenant_id], [internet_message_id])
        return self._activities[(tenant_id, internet_message_id)]

    def _load_activities(self, tenant_ids: Sequence[int], message_ids: Sequence[str]) -> None:
        for part in chunks(message_ids):
            self._activities.update({(t, m): None for t in tenant_ids for m in part})
            statement = select(Activity.tenant_id, Activity.internet_message_id, Activity.id, Activity.thread_id).where(
                col(Activity.tenant_id).in_(tenant_ids), col(Activity.internet_message_id).in_(part))
            for tenant_id, message_id, activity_id, thread_id in self.session.exec(statement):
                self._activities[(tenant_id, message_id)] = (activity_id, thread_id)

    def remember_activity(self, tenant_id: int, internet_message_id: str, activity_id: int, thread_id: int) -> None:
        self._activities[(tenant_id, internet_message_id)] = (activity_id, thread_id)

    def renumber(self, real: dict[int, int]) -> None:
        """The writer inserted its new threads and activities: their provisional ids become the real ones."""
        if not real:
            return
        self._thread_keys = {k: None if t is None else real.get(t, t) for k, t in self._thread_keys.items()}
        self._activities = {k: None if a is None else (real.get(a[0], a[0]), real.get(a[1], a[1]))
                            for k, a in self._activities.items()}
        self._targets = {real.get(t, t): records for t, records in self._targets.items()}

    def known_activities(self) -> list[int]:
        return sorted({found[0] for found in self._activities.values() if found is not None})

    # ----------------------------------------------------------------- a whole batch at once
    def prefetch(self, envelopes: Sequence[Envelope], dropbox: DropboxSettings | None = None) -> None:
        """Ask every question routing a batch will ask, one query per kind: the mailboxes' and senders' users,
        the tenants' users among the addresses, their exclusions, thread keys, logged activities, contacts and
        leads, the records of the threads found, and the matters and projects the dropbox addresses name.
        Whatever routing asks beyond this is looked up on demand."""
        if not envelopes:
            return
        addresses = sorted({a.email for e in envelopes for a in _addresses(e)})
        logins = sorted({e.mailbox.lower() for e in envelopes if e.mailbox} | set(addresses))
        users: dict[str, User] = {}
        for part in chunks(logins):
            users.update({u.email: u for u in self.session.exec(select(User).where(col(User.email).in_(part)))})
        for login in logins:
            self._memo.setdefault(("login", login), users.get(login))
        tenant_ids = sorted({u.tenant_id for u in users.values()})
        self._versions.need(tenant_ids)  # before the look-ups below, whose answers are kept at these versions
        for tenant_id in tenant_ids:
            self.tenant_users_by_address(tenant_id, addresses)
        if not tenant_ids:
            return
        keys = sorted({k for e in envelopes for k in threads.lookup_keys(e) if k})
        self._load_thread_keys(tenant_ids, [k for k in keys if any((t, k) not in self._thread_keys
                                                                   for t in tenant_ids)])
        self._load_activities(tenant_ids, sorted({e.internet_message_id for e in envelopes}))
        self._load_people(tenant_ids, _PEOPLE, addresses)
        found = {t for t in self._thread_keys.values() if t is not None}
        self._load_targets(sorted(found - self._targets.keys()))
        self._load_exclusions(tenant_ids, list(users.values()))
        self._load_walls(sorted({u.id for u in users.values() if u.id is not None} - self._walls.keys()))
        if dropbox is not None:
            self._load_numbered(envelopes, dropbox)

    def _load_exclusions(self, tenant_ids: Sequence[int], users: Sequence[User]) -> None:
        company: dict[int, set[str]] = {t: set() for t in tenant_ids}
        personal: dict[int, set[str]] = {}
        statement = select(Exclusion.tenant_id, Exclusion.user_id, Exclusion.pattern).where(
            col(Exclusion.tenant_id).in_(tenant_ids))
        for tenant_id, user_id, pattern in self.session.exec(statement):
            (company[tenant_id] if user_id is None else personal.setdefault(user_id, set())).add(pattern)
        for user in users:
            self._memo.setdefault(("exclusions", user.tenant_id, user.id),
                                  company.get(user.tenant_id, set()) | personal.get(user.id or 0, set()))

    def _load_walls(self, user_ids: Sequence[int]) -> None:
        """The walls of the batch's users (the filer asks each acting user's): one query, not one per user."""
        for part in chunks(user_ids):
            found: dict[int, set[int]] = {u: set() for u in part}
            for user_id, record_id in self.session.exec(select(Wall.user_id, Wall.record_id).where(
                    col(Wall.user_id).in_(part))):
                found[user_id].add(record_id)
            self._walls.update({u: frozenset(records) for u, records in found.items()})

    def _load_numbered(self, envelopes: Sequence[Envelope], dropbox: DropboxSettings) -> None:
        wanted: set[tuple[int, str, str]] = set()
        for address in {a.email for e in envelopes for a in e.recipients}:
            parsed = parse_dropbox_address(address, dropbox)
            if parsed is not None and parsed.scheme in _NUMBERED:
                tenant = self.tenant_by_slug(parsed.slug)
                if tenant is not None and tenant.id is not None:
                    wanted.add((tenant.id, _NUMBERED[parsed.scheme], parsed.number))
        wanted -= self._numbered.keys()
        if not wanted:
            return
        self._numbered.update({key: None for key in wanted})
        for part in chunks(sorted(wanted)):
            statement = select(Record).where(col(Record.tenant_id).in_({t for t, _, _ in part}),
                                             col(Record.kind).in_({k for _, k, _ in part}),
                                             col(Record.number).in_({n for _, _, n in part}))
            for record in self.session.exec(statement):
                key = (record.tenant_id, record.kind, str(record.number))
                if key in wanted and self._numbered.get(key) is None:
                    self._numbered[key] = record


def _addresses(envelope: Envelope) -> Iterator[Address]:
    yield from envelope.all_addresses
    for original in envelope.forwarded:  # a forward files its original's people (F14)
        yield from (a for a in (original.from_, *original.to, *original.cc) if a is not None)
