"""Contact identification (F9) and the search pattern that finds or creates people (F10)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from connector.config import SearchPattern
from connector.mail.envelope import Address, Envelope
from connector.models import Record, RecordKind, User
from connector.routing.decision import NewRecord
from connector.routing.repository import Repository

_EMAIL_IN_TEXT = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_BULK_PRECEDENCE = {"bulk", "list", "junk"}


def is_bulk(envelope: Envelope) -> bool:
    """Newsletters and automated mail: never a reason to create a contact."""
    if envelope.header("List-Id") or envelope.header("List-Unsubscribe"):
        return True
    if (envelope.header("Precedence") or "").strip().lower() in _BULK_PRECEDENCE:
        return True
    auto = (envelope.header("Auto-Submitted") or "no").strip().lower()
    return auto != "no"


def addresses_in_text(text: str) -> list[Address]:
    return [Address(m.group(0).strip(".")) for m in _EMAIL_IN_TEXT.finditer(text)]


def is_excluded(email: str, exclusions: set[str]) -> bool:
    email = email.lower()
    return email in exclusions or f"@{email.rpartition('@')[2]}" in exclusions


@dataclass(frozen=True)
class People:
    """The addresses of a message, told apart: users of the tenant, and everyone else."""

    users: dict[str, User]
    others: tuple[Address, ...]  # not users, not dropbox addresses (excluded ones included)
    excluded: frozenset[str]


def classify(addresses: Iterable[Address], tenant_id: int, repo: Repository, dropbox_domains: Sequence[str],
             exclusions: set[str]) -> People:
    unique: dict[str, Address] = {}
    for address in addresses:
        if address.email and address.domain not in dropbox_domains:
            unique.setdefault(address.email, address)
    users = repo.tenant_users_by_address(tenant_id, unique)
    others = tuple(a for e, a in unique.items() if e not in users)
    excluded = frozenset(a.email for a in others if is_excluded(a.email, exclusions))
    return People(users, others, excluded)


def find_people(emails: Iterable[str], tenant_id: int, pattern: SearchPattern,
                repo: Repository) -> dict[str, Record]:
    """Existing contacts/leads for ``emails`` in the order the search pattern gives (F10)."""
    wanted = set(emails)
    found: dict[str, Record] = {}
    if pattern in (SearchPattern.CONTACTS_ONLY, SearchPattern.CONTACTS_THEN_LEADS):
        found.update(repo.people_by_email(tenant_id, RecordKind.CONTACT, wanted))
    if pattern in (SearchPattern.LEADS_ONLY, SearchPattern.CONTACTS_THEN_LEADS):
        missing = wanted - found.keys()
        found.update(repo.people_by_email(tenant_id, RecordKind.LEAD, missing))
    return found


def new_person(address: Address, pattern: SearchPattern, create_as: str, owner_user_id: int) -> NewRecord:
    """A contact or lead whose e-mail *and* last name are the address, as Zoho creates them (F10)."""
    if pattern is SearchPattern.CONTACTS_ONLY:
        kind = RecordKind.CONTACT
    elif pattern is SearchPattern.LEADS_ONLY:
        kind = RecordKind.LEAD
    else:
        kind = RecordKind(create_as)
    return NewRecord(kind=kind, email=address.email, last_name=address.email, title=address.name,
                     owner_user_id=owner_user_id)
