"""What the routing core may read, and nothing else: a narrow, read-only repository.

`SqlRepository` answers from the database with indexed look-ups only (no scans over contacts or
activities), so routing cost stays flat as a tenant grows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, TypeVar

from sqlmodel import Session, col, select

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
)

T = TypeVar("T")


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


class SqlRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        # (tenant id, address) → the user it belongs to, or None. Routing never writes users, and a
        # repository lives for one transaction, so each address is looked up once per transaction
        # (route() asks for the message's addresses twice: the message view, then the participants).
        self._tenant_users: dict[tuple[int, str], User | None] = {}
        # Likewise for the company, role and user settings every message consults (F7, F8, F9): a
        # page of 50 messages asks the same few questions 50 times. Threads, activities and records
        # are never remembered: apply() writes those within the same transaction.
        self._memo: dict[tuple[object, ...], object] = {}

    def _remembered(self, key: tuple[object, ...], load: Callable[[], T]) -> T:
        if key not in self._memo:
            self._memo[key] = load()
        return self._memo[key]  # type: ignore[return-value]

    def tenant(self, tenant_id: int) -> Tenant | None:
        return self._remembered(("tenant", tenant_id), lambda: self.session.get(Tenant, tenant_id))

    def tenant_by_slug(self, slug: str) -> Tenant | None:
        return self.session.exec(select(Tenant).where(Tenant.slug == slug)).first()

    def user(self, user_id: int) -> User | None:
        return self.session.get(User, user_id)

    def user_by_token(self, token: str) -> User | None:
        return self.session.exec(select(User).where(User.dropbox_token == token)).first()

    def is_retired_token(self, token: str) -> bool:
        found = self.session.exec(select(RetiredAddress.id).where(RetiredAddress.token == token)).first()
        return found is not None

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
        if missing:
            found: dict[str, User] = {}
            for user in self.session.exec(
                select(User).where(User.tenant_id == tenant_id, col(User.email).in_(missing))
            ):
                found[user.email] = user
            statement = (
                select(SenderAddress.email, User)
                .join(User, col(SenderAddress.user_id) == col(User.id))
                .where(User.tenant_id == tenant_id, col(SenderAddress.email).in_(missing),
                       col(SenderAddress.verified_at).is_not(None))
            )
            for email, user in self.session.exec(statement):
                found.setdefault(email, user)
            for email in missing:
                self._tenant_users[(tenant_id, email)] = found.get(email)
        return {e: user for e in wanted if (user := self._tenant_users[(tenant_id, e)]) is not None}

    def role_permissions(self, role_id: int) -> set[str]:
        return self._remembered(("permissions", role_id), lambda: set(self.session.exec(
            select(RolePermission.permission).where(RolePermission.role_id == role_id))))

    def role(self, role_id: int) -> Role | None:
        return self.session.get(Role, role_id)

    def exclusions(self, tenant_id: int, user_id: int | None) -> set[str]:
        statement = select(Exclusion.pattern).where(
            Exclusion.tenant_id == tenant_id,
            (col(Exclusion.user_id).is_(None)) | (Exclusion.user_id == user_id),
        )
        return self._remembered(("exclusions", tenant_id, user_id), lambda: set(self.session.exec(statement)))

    def record_by_number(self, tenant_id: int, kind: RecordKind, number: str) -> Record | None:
        statement = select(Record).where(
            Record.tenant_id == tenant_id, Record.kind == kind.value, Record.number == number
        )
        return self.session.exec(statement).first()

    def people_by_email(self, tenant_id: int, kind: RecordKind, emails: Iterable[str]) -> dict[str, Record]:
        wanted = sorted({e.lower() for e in emails})
        if not wanted:
            return {}
        statement = (
            select(Record)
            .where(Record.tenant_id == tenant_id, Record.kind == kind.value, col(Record.email).in_(wanted))
            .order_by(col(Record.id))
        )
        found: dict[str, Record] = {}
        for record in self.session.exec(statement):
            found.setdefault(str(record.email), record)
        return found

    def records(self, ids: Iterable[int]) -> Sequence[Record]:
        wanted = sorted(set(ids))
        if not wanted:
            return []
        return self.session.exec(select(Record).where(col(Record.id).in_(wanted))).all()

    def thread_for_keys(self, tenant_id: int, keys: Iterable[str]) -> int | None:
        wanted = sorted({k for k in keys if k})
        if not wanted:
            return None
        statement = (
            select(ThreadKey.thread_id)
            .where(ThreadKey.tenant_id == tenant_id, col(ThreadKey.key).in_(wanted))
            .order_by(col(ThreadKey.thread_id))
        )
        return self.session.exec(statement).first()

    def thread_targets(self, thread_id: int) -> list[int]:
        statement = select(ThreadTarget.record_id).where(ThreadTarget.thread_id == thread_id)
        return sorted(self.session.exec(statement))

    def activity_id(self, tenant_id: int, internet_message_id: str) -> int | None:
        statement = select(Activity.id).where(
            Activity.tenant_id == tenant_id, Activity.internet_message_id == internet_message_id
        )
        return self.session.exec(statement).first()
