"""A submission server on loopback that keeps what it is sent (aiosmtpd): where the product's own mail goes
in the demo and the tests (verification codes, notices), over plain SMTP, STARTTLS or implicit TLS, with
AUTH when a user is given."""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass
class Caught:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    authenticated_as: str = ""


@dataclass
class _Inbox:
    caught: list[Caught] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        parsed = message_from_bytes(envelope.original_content or b"", policy=policy.default)
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else ""
        with self.arrived:
            self.caught.append(Caught(str(envelope.mail_from), list(envelope.rcpt_tos), parsed,  # type: ignore[arg-type]
                                      login))
            self.arrived.notify_all()
        return "250 2.0.0 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MailCatcher:
    """``with MailCatcher() as catcher:`` … ``catcher.wait_for(1)``; ``mode`` is none | starttls | tls."""

    def __init__(self, mode: str = "none", cert: tuple[str, str] | None = None,
                 login: tuple[str, str] | None = None) -> None:
        self.inbox = _Inbox()
        self.host, self.port, self.mode = "127.0.0.1", _free_port(), mode
        context = None
        if cert is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*cert)
        kwargs: dict[str, Any] = {"ssl_context": context} if mode == "tls" else {"tls_context": context}
        if login is not None:
            kwargs |= {"authenticator": _password(*login), "auth_required": True,
                       "auth_require_tls": mode == "starttls"}
        self.controller = Controller(self.inbox, hostname=self.host, port=self.port, **kwargs)

    @property
    def caught(self) -> list[Caught]:
        return list(self.inbox.caught)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Caught]:
        """The first ``count`` messages, waiting up to ``timeout`` seconds for them; fewer if they did not come."""
        with self.inbox.arrived:
            self.inbox.arrived.wait_for(lambda: len(self.inbox.caught) >= count, timeout)
            return list(self.inbox.caught)

    def __enter__(self) -> MailCatcher:
        self.controller.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.controller.stop()


def _password(user: str, password: str) -> Any:
    def check(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (user.encode(), password.encode())
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)
    return check
