"""Linking an unassigned e-mail to contacts a user picks (F12)."""

from __future__ import annotations

from sqlmodel import Session

from connector.config import Settings
from connector.db import utcnow
from connector.errors import InputError
from connector.mail.envelope import Address, Direction, Envelope, Source
from connector.models import Tenant, Unassigned, User
from connector.routing.apply import apply
from connector.routing.decision import Decision, Outcome, ParticipantPlan, Reason, RecordRef, Target
from connector.services.owned import company_row
from connector.services.records import person


def get_unassigned(session: Session, tenant: Tenant, unassigned_id: int) -> Unassigned:
    """Unassigned e-mail ``unassigned_id`` of ``tenant``; another tenant's reads as missing."""
    return company_row(session, Unassigned, unassigned_id, tenant, "unassigned e-mail")


def link(session: Session, tenant: Tenant, unassigned_id: int, emails: list[str], settings: Settings,
         by: User | None = None) -> int:
    """File the unassigned mail under the given contacts; returns the new activity id."""
    row = get_unassigned(session, tenant, unassigned_id)
    if row.linked_at is not None:
        raise InputError(f"unassigned e-mail {unassigned_id} is already linked")
    if not emails:
        raise InputError("name at least one contact to link to")
    people = [person(session, tenant, email) for email in emails]
    customers = {p.customer_id for p in people if p.customer_id}
    customer_id = customers.pop() if len(customers) == 1 else None
    sender = Address(row.from_email, row.from_name)
    envelope = Envelope(source=Source.SMTP, internet_message_id=row.internet_message_id, subject=row.subject,
                        from_=sender, sent_at=row.sent_at, text=row.text, html=row.html)
    targets = tuple(Target(RecordRef(record_id=p.id), "linked") for p in people)
    if customer_id is not None:
        targets += (Target(RecordRef(record_id=customer_id), "customer"),)
    owner_id = by.id if by else row.user_id
    participants = (ParticipantPlan(sender, "from", "owner" if owner_id == row.user_id else "user",
                                    user_id=row.user_id),)
    participants += tuple(ParticipantPlan(Address(str(p.email)), "to", "contact", record=RecordRef(record_id=p.id))
                          for p in people)
    decision = Decision(Outcome.LOGGED, Reason.ADDRESSED, envelope, tenant_id=tenant.id, user_id=owner_id,
                        targets=targets, participants=participants, owner_user_id=row.user_id,
                        customer_id=customer_id, thread_keys=(("message_id", row.internet_message_id),),
                        direction=Direction.SENT, subject=row.subject, text=row.text, html=row.html,
                        sent_at=row.sent_at, from_=sender, detail={"linked_from_unassigned": unassigned_id})
    applied = apply(decision, session, settings)
    assert applied.activity_id is not None
    row.activity_id = applied.activity_id
    row.linked_at = utcnow()
    session.add(row)
    session.flush()
    return applied.activity_id
