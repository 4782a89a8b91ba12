"""Setting what is never captured (the rules themselves are connector/routing/privacy.py).

Every change is audited with the values before and after: a privacy policy that can be loosened silently
protects nobody.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import Session

from connector.config import SenderAuthentication
from connector.errors import InputError
from connector.models import AuditEntry, Tenant, User


def _patterns(values: Iterable[str]) -> list[str]:
    """`someone@x.com` or `@x.com` (a bare `x.com` is taken as the domain), lower-cased, once each."""
    found: list[str] = []
    for value in values:
        pattern = value.strip().lower()
        if not pattern:
            continue
        if "@" not in pattern:
            pattern = f"@{pattern}"
        domain = pattern.partition("@")[2]
        if "." not in domain or " " in pattern or "@" in domain:
            raise InputError(f"{value!r} is neither an address nor a domain")
        if pattern not in found:
            found.append(pattern)
    return found


def _labels(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v.strip() for v in values if v.strip()))


def set_company_policy(session: Session, tenant: Tenant, *, file_internal_mail: bool | None = None,
                       headers_only: bool | None = None, blocked_labels: Iterable[str] | None = None,
                       headers_only_labels: Iterable[str] | None = None, sender_authentication: str | None = None,
                       by: str = "") -> Tenant:
    changes: dict[str, object] = {}
    if sender_authentication is not None:  # "" goes back to the deployment's smtp.authentication
        changes["sender_authentication"] = SenderAuthentication(sender_authentication).value \
            if sender_authentication else None
    if file_internal_mail is not None:
        changes["file_internal_mail"] = file_internal_mail
    if headers_only is not None:
        changes["headers_only"] = headers_only
    if blocked_labels is not None:
        changes["blocked_labels"] = _labels(blocked_labels)
    if headers_only_labels is not None:
        changes["headers_only_labels"] = _labels(headers_only_labels)
    _apply(session, tenant, tenant.id, changes, by, "company")
    return tenant


def set_user_policy(session: Session, user: User, *, never_file: Iterable[str] | None = None,
                    headers_only: bool | None = None, by: str = "") -> User:
    changes: dict[str, object] = {}
    if never_file is not None:
        changes["never_file"] = _patterns(never_file)
    if headers_only is not None:
        changes["headers_only"] = headers_only
    _apply(session, user, user.tenant_id, changes, by, user.email)
    return user


def _apply(session: Session, row: Tenant | User, tenant_id: int | None, changes: dict[str, object], by: str,
           whose: str) -> None:
    before = {name: getattr(row, name) for name in changes}
    if before == changes:
        return
    for name, value in changes.items():
        setattr(row, name, value)
    session.add(row)
    session.add(AuditEntry(tenant_id=tenant_id, action="privacy_policy_changed", reason=whose,
                           detail={"before": before, "after": changes, "by": by}))
    session.flush()
