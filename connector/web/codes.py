"""Delivering sender-address verification codes (F8): "we sent a code to that address".

The console only needs `CodeSender`; production plugs in a mail-sending implementation. A code is a
secret, so it never goes to a log: the development default says that one was issued and how an
operator can issue one to themselves (`bcc-capture user sender add` prints it), and
`RecordingCodeSender` lets tests and the demo read it back.
"""

from __future__ import annotations

import logging
from typing import Protocol

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


class RecordingCodeSender:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    def send(self, user_email: str, address: str, code: str) -> None:
        self.sent.append((user_email, address, code))

    def code_for(self, address: str) -> str:
        return next(code for _, to, code in reversed(self.sent) if to == address)
