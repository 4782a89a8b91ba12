"""Delivering sender-address verification codes (F8): "we sent a code to that address".

The console only needs `CodeSender`. `code_sender_for(settings)` picks the real one: `MailCodeSender`
mails the code through the submission server of ``outbound`` when one is set; otherwise nothing can be
sent, and the development default says that a code was issued and how an operator can issue one to
themselves (`bcc-capture user sender add` prints it). A code is a secret, so it never goes to a log.
`RecordingCodeSender` lets tests and the demo read it back.
"""

from __future__ import annotations

import logging
from typing import Protocol

from connector.config import Settings
from connector.dropbox.notices import verification_code
from connector.dropbox.outbound import Mailer, OutboundError, mailer_for
from connector.errors import InputError
from connector.services.verification import CODE_LIFETIME

log = logging.getLogger("bcc_capture.codes")


class CodeSender(Protocol):
    def send(self, user_email: str, address: str, code: str) -> None:
        """Deliver ``code`` to ``address``, which ``user_email`` asked to authorize."""


class LoggingCodeSender:
    """Development: no mail transport, so the code is not delivered; the log says so, without the code."""

    def send(self, user_email: str, address: str, code: str) -> None:
        log.warning("a verification code for %s (asked by %s) was issued but no mail transport is configured; "
                    "an operator can issue one with: bcc-capture user sender add %s %s",
                    address, user_email, user_email, address)


class MailCodeSender:
    """Production: the code goes by mail to the address being authorized, while the user waits (the route
    sends it before its commit, so a code that could not be sent is not counted against the user)."""

    def __init__(self, mailer: Mailer) -> None:
        self.mailer = mailer

    def send(self, user_email: str, address: str, code: str) -> None:
        minutes = int(CODE_LIFETIME.total_seconds() // 60)
        try:
            self.mailer.send(verification_code(address, user_email, code, minutes))
        except OutboundError as exc:
            log.warning("the verification code for %s could not be sent: %s", address, exc)
            raise InputError("the code could not be sent just now (our mail server did not take it); "
                             "try again in a few minutes") from exc


def code_sender_for(settings: Settings) -> CodeSender:
    """Mail when ``outbound.host`` is set; otherwise the development default (nothing is sent)."""
    mailer = mailer_for(settings)
    return MailCodeSender(mailer) if mailer is not None else LoggingCodeSender()


class RecordingCodeSender:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    def send(self, user_email: str, address: str, code: str) -> None:
        self.sent.append((user_email, address, code))

    def code_for(self, address: str) -> str:
        return next(code for _, to, code in reversed(self.sent) if to == address)
