"""Mail the product sends (sender verification codes, notices), through the firm's submission server.

`Mailer` submits one message with smtplib as ``outbound`` says: STARTTLS (587) or implicit TLS (465) with
the server's certificate checked (against ``ca_file`` when given), AUTH when a user is set, plain text
only to a relay on this machine. Every message says ``Auto-Submitted: auto-generated`` (RFC 3834), so
auto-responders leave it alone and nothing the dropbox receives can start a loop with what it sends.

`Postman` sends notices from a thread of its own, so filing and syncing never wait on a mail server;
`send_after_commit` hands it a notice only once the transaction that caused it commits (nothing for a
change rolled back). A notice is tried three times and then logged. Notices are not durable: a process
that dies with notices queued loses them; what they tell of stays in the console and the audit log.
"""

from __future__ import annotations

import logging
import queue
import smtplib
import ssl
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from sqlalchemy import event
from sqlmodel import Session

from connector.config import OutboundSecurity, OutboundSettings, Settings

log = logging.getLogger(__name__)


class OutboundError(Exception):
    """The submission server could not be reached or refused the message."""


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str


def _one_line(text: str, limit: int = 200) -> str:
    """A header value from text a stranger may have chosen: one line, bounded."""
    return " ".join(text.split())[:limit]


class Mailer:
    def __init__(self, settings: OutboundSettings, sender: str) -> None:
        self.settings = settings
        self.sender = sender
        self.helo = parseaddr(sender)[1].rpartition("@")[2] or "localhost"

    def message(self, mail: Mail) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = _one_line(mail.to, 320)
        message["Subject"] = _one_line(mail.subject)
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = make_msgid(domain=self.helo)
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(mail.text)
        return message

    def send(self, mail: Mail) -> None:
        message = self.message(mail)
        try:
            with self._connect() as client:
                if self.settings.username:
                    client.login(self.settings.username, self.settings.password or "")
                client.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:  # ssl.SSLError is an OSError
            raise OutboundError(f"{type(exc).__name__}: {exc}") from exc

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.security is OutboundSecurity.TLS:
            return smtplib.SMTP_SSL(s.host, s.port, local_hostname=self.helo, timeout=s.timeout_seconds,
                                    context=self._tls())
        client = smtplib.SMTP(s.host, s.port, local_hostname=self.helo, timeout=s.timeout_seconds)
        if s.security is OutboundSecurity.STARTTLS:
            try:  # a server without STARTTLS is refused (SMTPNotSupportedError), never talked to in clear
                client.starttls(context=self._tls())
            except BaseException:
                client.close()
                raise
        return client

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.settings.ca_file)


def sender_address(settings: Settings) -> str:
    return settings.outbound.sender or f"bcc-capture <no-reply@{settings.dropbox.domains[0]}>"


def mailer_for(settings: Settings) -> Mailer | None:
    """The mailer ``outbound`` describes; None when no server is set (development: nothing is sent)."""
    return Mailer(settings.outbound, sender_address(settings)) if settings.outbound.host else None


class Postman:
    """Sends on a daemon thread of its own: whoever posts never waits on the mail server."""

    def __init__(self, mailer: Mailer, attempts: int = 3, pause_seconds: float = 2.0) -> None:
        self.mailer = mailer
        self.attempts = attempts
        self.pause_seconds = pause_seconds
        self.sent = 0
        self.failed = 0
        self._queue: queue.Queue[Mail] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def post(self, mail: Mail) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="postman", daemon=True)
                self._thread.start()
        self._queue.put(mail)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything posted was sent or given up; False if that took longer than ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._queue.all_tasks_done.wait(remaining)
        return True

    def _run(self) -> None:
        while True:
            mail = self._queue.get()
            try:
                self._deliver(mail)
            finally:
                self._queue.task_done()

    def _deliver(self, mail: Mail) -> None:
        for attempt in range(1, self.attempts + 1):
            try:
                self.mailer.send(mail)
                self.sent += 1
                return
            except OutboundError as exc:
                if attempt == self.attempts:
                    self.failed += 1
                    log.warning("notice to %s not sent after %d attempts: %s", mail.to, attempt, exc)
                    return
                time.sleep(self.pause_seconds * attempt)


_postmen: dict[tuple[OutboundSettings, str], Postman] = {}
_postmen_lock = threading.Lock()


def postman_for(settings: Settings) -> Postman | None:
    """One postman per outbound configuration in this process; None when nothing is to be sent."""
    mailer = mailer_for(settings)
    if mailer is None:
        return None
    with _postmen_lock:
        return _postmen.setdefault((settings.outbound, mailer.sender), Postman(mailer))


_PENDING, _LISTENING = "bcc_capture_notices", "bcc_capture_notices_listening"


def send_after_commit(session: Session, postman: Postman, mail: Mail) -> None:
    """Post ``mail`` once ``session``'s transaction commits; a rollback drops it."""
    session.info.setdefault(_PENDING, []).append((postman, mail))
    if not session.info.get(_LISTENING):
        session.info[_LISTENING] = True
        event.listen(session, "after_commit", _post_pending)
        event.listen(session, "after_rollback", _drop_pending)


def _post_pending(session: Session) -> None:
    for postman, mail in session.info.pop(_PENDING, []):
        postman.post(mail)


def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)
