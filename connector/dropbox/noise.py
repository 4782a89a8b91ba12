"""Mail that is about mail: bounces, delivery reports, auto-replies, mailer-daemons. Never filed, never answered.

The dropbox answers nobody (it sends no mail at all), so it cannot start a loop; what it must not do
is file an out-of-office reply or a bounce as if a user had Bcc'd it: a vacation responder that
answers a message Bcc'd to the dropbox, or a bounce of it, may reach the dropbox too. Each such
message is audited with its kind (RFC 3834 for auto-replies, RFC 3464 for DSNs).
"""

from __future__ import annotations

import re
from enum import StrEnum

from connector.mail.envelope import Envelope


class Noise(StrEnum):
    BOUNCE = "bounce"  # the null sender <> (RFC 5321 4.5.5) or a delivery status notification
    AUTO_REPLY = "auto_reply"  # Auto-Submitted, X-Autoreply, vacation and out-of-office replies
    MAILER_DAEMON = "mailer_daemon"  # mail from a mail system's own address


_SYSTEM_SENDERS = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailerdaemon)$", re.IGNORECASE)
_AUTO_REPLY_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress-Reply", "X-Vacation")
_AUTO_SUBJECT = re.compile(r"^\s*(auto(matic)?[ -]?reply|out of (the )?office|autoreply|abwesenheitsnotiz|"
                           r"réponse automatique|respuesta automática)\b", re.IGNORECASE)


def classify(envelope: Envelope, mail_from: str) -> Noise | None:
    """What kind of machine-made mail this is, or None for a person's message."""
    content_type = (envelope.header("Content-Type") or "").lower()
    if not mail_from or ("multipart/report" in content_type and "delivery-status" in content_type):
        return Noise.BOUNCE
    auto_submitted = (envelope.header("Auto-Submitted") or "no").strip().lower()
    precedence = (envelope.header("Precedence") or "").strip().lower()
    if (not auto_submitted.startswith("no") or precedence == "auto_reply"
            or any(envelope.header(name) is not None for name in _AUTO_REPLY_HEADERS)
            or _AUTO_SUBJECT.match(envelope.subject)):
        return Noise.AUTO_REPLY
    senders = [a for a in (envelope.from_, envelope.sender) if a is not None]
    if any(_SYSTEM_SENDERS.match(a.email.partition("@")[0]) for a in senders) or \
            _SYSTEM_SENDERS.match(mail_from.partition("@")[0]):
        return Noise.MAILER_DAEMON
    return None
