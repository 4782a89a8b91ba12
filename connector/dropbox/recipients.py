"""What `RCPT TO` answers, decided while the sender is still connected (never an open relay).

Refusing at RCPT time is what makes the refusal reach a person: the sending server turns a `550`
into a bounce in the sender's own language, naming the address, while a message accepted and then
refused would vanish into the audit log. So the answer says what is wrong in words a sender reads.
The answer looks only at the address: whether the sender may use it is decided after DATA (the
authorized-sender check, F8, needs the From header and its authentication).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Engine

from connector.config import DropboxSettings
from connector.db import transaction
from connector.models import RecordKind
from connector.routing.addresses import Scheme, is_dropbox_domain, parse_dropbox_address
from connector.routing.repository import SqlRepository

RecipientCheck = Callable[[str], str | None]  # address → None (accept) or the full SMTP reply


def recipient_reply(repo: SqlRepository, settings: DropboxSettings, address: str) -> str | None:
    """None to accept ``address``; otherwise the refusal, with its code and a reason a sender understands."""
    if not is_dropbox_domain(address, settings):
        return "550 5.7.1 relay denied: this server accepts mail only for its dropbox addresses"
    parsed = parse_dropbox_address(address, settings)
    if parsed is None:
        return f"550 5.1.1 <{address}>: no such dropbox address; check the spelling"
    if parsed.scheme in (Scheme.PERSONAL, Scheme.ACTION):
        if repo.user_by_token(parsed.token) is not None:
            return None
        if repo.is_retired_token(parsed.token):
            return (f"550 5.1.1 address retired: <{address}> was replaced by its owner; "
                    "ask them for their new dropbox address")
        return f"550 5.1.1 <{address}>: no such dropbox address; check the spelling"
    if parsed.scheme is Scheme.SHARED:
        return None
    tenant = repo.tenant_by_slug(parsed.slug)
    if tenant is None or tenant.id is None:
        return f"550 5.1.1 <{address}>: no company uses the name {parsed.slug!r}; check the spelling"
    if parsed.scheme in (Scheme.MATTER, Scheme.PROJECT):
        kind = RecordKind.MATTER if parsed.scheme is Scheme.MATTER else RecordKind.PROJECT
        record = repo.record_by_number(tenant.id, kind, parsed.number)
        if record is None:
            return f"550 5.1.1 <{address}>: there is no {kind.value} {parsed.number}; check the number"
        if record.archived_at is not None:
            return (f"550 5.1.1 address archived: <{address}> belongs to {kind.value} {parsed.number}, which is "
                    "closed and archived, so it takes no more mail; file it elsewhere or have it restored")
    return None


def recipient_check(engine: Engine, settings: DropboxSettings) -> RecipientCheck:
    """The callable the listener is handed: one short read-only transaction per RCPT."""

    def check(address: str) -> str | None:
        with transaction(engine) as session:
            return recipient_reply(SqlRepository(session), settings, address.strip().lower())

    return check
