"""The SMTP listener (aiosmtpd): the MX of the dropbox domain(s), never an open relay, never losing a message.

* `RCPT TO` is answered from the recipient policy it is handed (`connector.dropbox.recipients`):
  another domain `550 relay denied`, an unknown dropbox address `550`, a retired one `550 address retired`,
  an archived matter's or project's `550 address archived`;
  more than ``smtp.max_recipients`` recipients `452` (RFC 5321 4.5.3.1.10: the sender sends the rest later).
* `SIZE` is advertised; a larger declaration or a longer DATA is answered `552` (aiosmtpd).
* Per client IP: more than ``max_connections_per_peer`` sessions at once are greeted `421` and closed;
  more than ``max_messages_per_peer_per_minute`` messages get `450` at MAIL (the sender queues and retries).
* `STARTTLS` is offered with the certificate and key from settings.
* `250` is answered only after the store callable returned, i.e. after the spool row was committed; any
  failure there answers `451` and the sending server tries again later. The listener never files.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from connector.config import SmtpSettings
from connector.dropbox.recipients import RecipientCheck
from connector.dropbox.spool import Received, Store

log = logging.getLogger(__name__)


@dataclass
class PeerLimits:
    """Sessions open and messages accepted per client IP (touched from the event loop thread only)."""

    max_connections: int
    max_messages_per_minute: int
    open: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    recent: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))

    def connect(self, ip: str) -> bool:
        self.open[ip] += 1
        return self.open[ip] <= self.max_connections

    def disconnect(self, ip: str) -> None:
        self.open[ip] -= 1
        if self.open[ip] <= 0:
            del self.open[ip]

    def may_send(self, ip: str, now: float) -> bool:
        window = self.recent[ip]
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= self.max_messages_per_minute:
            return False
        window.append(now)
        return True


class _Session(SMTP):
    """aiosmtpd's protocol, with the per-peer session limit applied before the greeting."""

    def __init__(self, handler: DropboxHandler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._limits = handler.limits
        self._counted: str | None = None
        self._over_limit = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None  # STARTTLS calls this again on the same session
        super().connection_made(transport)
        if first:
            self._counted = _ip(transport.get_extra_info("peername"))
            self._over_limit = not self._limits.connect(self._counted)

    def connection_lost(self, error: Exception | None) -> None:
        if self._counted is not None:
            self._limits.disconnect(self._counted)
            self._counted = None
        super().connection_lost(error)

    async def _handle_client(self) -> None:
        if self._over_limit:
            await self.push("421 4.7.0 too many connections from your address; try again later")
            if self.transport is not None:
                self.transport.close()
            return
        await super()._handle_client()


class DropboxHandler:
    def __init__(self, check_recipient: RecipientCheck, store: Store, limits: PeerLimits, max_recipients: int,
                 stored: Callable[[int], None] = lambda _id: None) -> None:
        self.check_recipient = check_recipient
        self.store = store
        self.limits = limits
        self.max_recipients = max_recipients
        self.stored = stored  # told each committed spool id (wakes in-process filers)

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          options: list[str]) -> str:
        if not self.limits.may_send(_ip(session.peer), time.monotonic()):
            return "450 4.7.1 too many messages from your address; try again later"
        envelope.mail_from = address  # "<>" for the null sender: aiosmtpd needs it truthy until DATA
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          options: list[str]) -> str:
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return "452 4.5.3 too many recipients; send the rest in another message"
        try:
            refusal = await asyncio.get_running_loop().run_in_executor(None, self.check_recipient, address)
        except Exception:
            log.exception("RCPT check failed for %s", address)
            return "451 4.3.0 temporary failure; try again later"
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        sender = "" if envelope.mail_from in (None, "<>") else str(envelope.mail_from)
        message = Received(raw=bytes(raw), mail_from=sender, rcpt_tos=tuple(envelope.rcpt_tos),
                           peer_ip=_ip(session.peer), helo=session.host_name or "", tls=session.ssl is not None)
        try:
            spool_id = await asyncio.get_running_loop().run_in_executor(None, self.store, message)
        except Exception:  # the database is away or full: the sending server keeps the message and retries
            log.exception("spooling failed")
            return "451 4.3.0 temporary failure storing the message; try again later"
        self.stored(spool_id)
        return f"250 2.0.0 OK queued as {spool_id}"


def _ip(peer: Any) -> str:
    return str(peer[0]) if isinstance(peer, tuple) and peer else str(peer or "")


def tls_context(settings: SmtpSettings) -> ssl.SSLContext | None:
    if not settings.tls_cert or not settings.tls_key:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.tls_cert, settings.tls_key)
    return context


class Listener:
    """The listener on a thread of its own with its own event loop: ``start()``, then ``port``, ``stop()``."""

    def __init__(self, settings: SmtpSettings, hostname: str, check_recipient: RecipientCheck, store: Store,
                 stored: Callable[[int], None] = lambda _id: None) -> None:
        limits = PeerLimits(settings.max_connections_per_peer, settings.max_messages_per_peer_per_minute)
        self.handler = DropboxHandler(check_recipient, store, limits, settings.max_recipients, stored)
        self.settings = settings
        self.hostname = hostname
        self.tls = tls_context(settings)
        self.loop = asyncio.new_event_loop()
        self.port = settings.port
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None

    def _session(self) -> SMTP:
        return _Session(self.handler, data_size_limit=self.settings.max_message_bytes, hostname=self.hostname,
                        ident="bcc-capture dropbox", tls_context=self.tls, require_starttls=self.settings.require_tls,
                        timeout=self.settings.timeout_seconds, loop=self.loop)

    def start(self) -> None:
        """Bind (errors such as a port in use are raised here) and serve on a daemon thread."""
        self._server = self.loop.run_until_complete(
            self.loop.create_server(self._session, host=self.settings.host, port=self.settings.port))
        self.port = int(self._server.sockets[0].getsockname()[1])
        self._thread = threading.Thread(target=self.loop.run_forever, name="smtp-listener", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        server = self._server

        async def close() -> None:
            server.close()
            sessions = asyncio.all_tasks(self.loop) - {asyncio.current_task()}
            for task in sessions:
                task.cancel()
            await asyncio.gather(*sessions, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()
        self._server = self._thread = None

    def __enter__(self) -> Listener:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
