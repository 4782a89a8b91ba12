"""What the product tells people by mail: a message quarantined in their name, a mailbox that needs
reconnecting, mail they Bcc'd to a record an ethical wall keeps them from or to an archived matter or project,
and the code that proves they read an extra sender address (`connector.web.codes`).

Each notice is written in the transaction that changes the state it tells of and sent once that commits
(`outbound.send_after_commit`), to the user's login address. Nothing is sent when ``outbound.host`` is
unset. A forger can make the dropbox quarantine mail in Alice's name as often as he likes, so Alice hears
of at most ``outbound.quarantine_notices_per_hour`` of them an hour (the console shows them all).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from connector.config import Settings
from connector.db import utcnow
from connector.dropbox.outbound import Mail, postman_for, send_after_commit
from connector.models import Mailbox, QuarantinedMessage, Record, User

_WHY = {"unauthenticated_sender": "the domain in its From address did not vouch for it (SPF, DKIM and DMARC did "
                                  "not pass), so it may not be from you",
        "unreadable_message": "it could not be read",
        "unfileable": "filing it failed again and again"}
_PROVIDERS = {"graph": "Outlook (Microsoft 365)", "gmail": "Gmail"}


def quarantined(session: Session, settings: Settings, item: QuarantinedMessage) -> bool:
    """Tell the user ``item`` claims to come from that it was quarantined; False when no notice goes out."""
    postman = postman_for(settings)
    user = session.get(User, item.user_id) if postman is not None and item.user_id is not None else None
    if postman is None or user is None or not user.active:
        return False
    since = utcnow() - timedelta(hours=1)
    recent = session.exec(select(func.count()).select_from(QuarantinedMessage).where(
        QuarantinedMessage.user_id == user.id, col(QuarantinedMessage.created_at) >= since)).one()
    if recent > settings.outbound.quarantine_notices_per_hour:
        return False
    why = _WHY.get(item.reason, item.reason)
    text = (f"A message sent to the email-capture dropbox in your name was not filed, because {why}.\n\n"
            f"  From:     {item.from_email or '(none)'}\n"
            f"  Subject:  {' '.join(item.subject.split())[:200] or '(none)'}\n"
            f"  Sent to:  {', '.join(item.envelope_recipients) or '(unknown)'}\n"
            f"  Reason:   {item.reason}\n"
            f"  Verdict:  {item.verdict or '(none)'}\n"
            f"  Reference: quarantine #{item.id}\n\n"
            "If you sent it, it can be released from the quarantine and is then filed as usual; your administrator "
            "can help, and should make sure your domain's SPF and DKIM cover the service you sent it from.\n"
            "If you did not send it, someone may be sending mail in your name: have it deleted and tell your "
            "administrator.\n")
    send_after_commit(session, postman, Mail(user.email, "A message in your name was quarantined", text))
    return True


def needs_reconnect(session: Session, settings: Settings, mailbox: Mailbox) -> bool:
    """Tell the mailbox's owner to reconnect it. Call in the transaction that moves it to needs_reconnect
    (the engine's conditional update makes that once per revocation); False when no notice goes out."""
    postman = postman_for(settings)
    user = session.get(User, mailbox.user_id) if postman is not None else None
    if postman is None or user is None or not user.active:
        return False
    provider = _PROVIDERS.get(mailbox.provider, mailbox.provider)
    text = (f"Email capture can no longer read your mailbox {mailbox.address} ({provider}): its access was "
            "revoked or has expired. Until you reconnect it, mail you send and receive there is not filed "
            "(mail you Bcc to a dropbox address still is).\n\n"
            f"Reconnect it here: {settings.sync.public_url.rstrip('/')}/mailboxes\n")
    send_after_commit(session, postman, Mail(user.email, f"Reconnect your mailbox {mailbox.address}", text))
    return True


def walled(session: Session, settings: Settings, user_id: int, subject: str, record_ids: list[int]) -> bool:
    """Tell a user why the mail they Bcc'd to a record they are walled from was not filed (the audit says
    `walled_record`). Records are named by number or address only, which the user wrote: titles stay behind."""
    postman = postman_for(settings)
    user = session.get(User, user_id) if postman is not None else None
    if postman is None or user is None or not user.active:
        return False
    found = session.exec(select(Record).where(col(Record.id).in_(record_ids)).order_by(col(Record.id))).all()
    names = ", ".join(f"{r.kind} {r.number or r.email or ''}".strip() for r in found) or "a record"
    text = ("The message you sent to the email-capture dropbox was not filed: your administrator has placed an "
            f"ethical wall between you and {names}. You cannot file mail there, and you do not see the mail "
            "filed there.\n\n"
            f"  Subject:  {' '.join(subject.split())[:200] or '(none)'}\n"
            "  Reason:   walled_record\n\n"
            "Nothing was stored. If you believe the wall is a mistake, ask your administrator.\n")
    send_after_commit(session, postman, Mail(user.email, "Your message was not filed (ethical wall)", text))
    return True


def archived(session: Session, settings: Settings, user_id: int, subject: str, addressed: list[str]) -> bool:
    """Tell a user why the mail they Bcc'd to an archived matter or project was not filed (the audit says
    `archived_record`). ``addressed``: what the addresses named ("matter 10802")."""
    postman = postman_for(settings)
    user = session.get(User, user_id) if postman is not None else None
    if postman is None or user is None or not user.active:
        return False
    names = ", ".join(addressed) or "the record"
    text = (f"The message you sent to the email-capture dropbox was not filed: {names} is closed and archived, so "
            "its dropbox address takes no more mail.\n\n"
            f"  Subject:  {' '.join(subject.split())[:200] or '(none)'}\n"
            "  Reason:   archived_record\n\n"
            "Nothing was stored. Send it to the record the work goes on under, or have the record restored in your "
            "practice-management or CRM system and send it again. Replies in conversations already filed there "
            "are still filed.\n")
    send_after_commit(session, postman, Mail(user.email, f"Your message was not filed ({names} is archived)", text))
    return True


def verification_code(address: str, user_email: str, code: str, minutes: int) -> Mail:
    """The mail that carries a sender verification code to the address being authorized."""
    text = (f"{user_email} asked to file mail sent from {address} with email capture.\n\n"
            f"The verification code is: {code}\n\n"
            f"Enter it on the page where you added the address. It works for {minutes} minutes.\n"
            "If you did not ask for this, ignore this message: nothing changes without the code.\n")
    return Mail(address, "Your email-capture verification code", text)
