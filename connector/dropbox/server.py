"""`bcc-capture smtp`: the listener and the threads filing what it spools, built from settings.

One process can do both (the default), or only one of them: listeners on the MX hosts with
``smtp.filing_workers: 0``, and filer processes (``--filing-only``) wherever the database is; on
PostgreSQL any number of filers share the spool (``FOR UPDATE SKIP LOCKED``).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.engine import Engine

from connector.config import Settings
from connector.db import utcnow
from connector.dropbox import spool
from connector.dropbox.authentication import Authenticator
from connector.dropbox.filing import SpoolFiler
from connector.dropbox.listener import Listener
from connector.dropbox.recipients import recipient_check
from connector.dropbox.resolver import Dns


def authserv_id(settings: Settings) -> str:
    return settings.smtp.hostname or settings.dropbox.domains[0]


def filer(engine: Engine, settings: Settings, clock: Callable[[], datetime] = utcnow) -> SpoolFiler:
    dns = Dns(settings.smtp.resolver, settings.smtp.dns_timeout_seconds)
    authenticator = Authenticator(dns, authserv_id(settings), settings.smtp.trusted_arc_sealers)
    return SpoolFiler(engine, settings, authenticator, clock)


class DropboxServer:
    """The listener (unless ``filing_only``) and ``filers`` filing threads, woken as soon as mail is spooled."""

    def __init__(self, engine: Engine, settings: Settings, *, filers: int | None = None, listen: bool = True,
                 clock: Callable[[], datetime] = utcnow) -> None:
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command at INFO
        self.engine = engine
        self.settings = settings
        self.stop_event = threading.Event()
        self.wake = threading.Event()
        count = settings.smtp.filing_workers if filers is None else filers
        self.filers = [filer(engine, settings, clock) for _ in range(count)]
        self.threads: list[threading.Thread] = []
        self.listener = Listener(settings.smtp, authserv_id(settings), recipient_check(engine, settings.dropbox),
                                 lambda message: spool.store(engine, message),
                                 lambda _id: self.wake.set()) if listen else None

    def start(self) -> None:
        if self.listener is not None:
            self.listener.start()
        for index, each in enumerate(self.filers):
            thread = threading.Thread(target=each.run, args=(self.stop_event, self.wake), name=f"spool-filer-{index}",
                                      daemon=True)
            thread.start()
            self.threads.append(thread)

    def stop(self) -> None:
        if self.listener is not None:
            self.listener.stop()
        self.stop_event.set()
        self.wake.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def __enter__(self) -> DropboxServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def run(engine: Engine, settings: Settings, *, filing_only: bool = False, once: bool = False, port: int | None = None,
        echo: Callable[[str], object] = print) -> None:
    """`bcc-capture smtp`: serve until SIGTERM or Ctrl-C (``once``: file what is spooled, then return)."""
    if port is not None:
        settings = settings.model_copy(update={"smtp": settings.smtp.model_copy(update={"port": port})})
    if once:
        echo(f"{len(filer(engine, settings).file_all())} spooled message(s) handled")
        return
    server = DropboxServer(engine, settings, listen=not filing_only,
                           filers=max(1, settings.smtp.filing_workers) if filing_only else None)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with server:
        where = f"listening on {settings.smtp.host}:{server.listener.port}" if server.listener else "filing only"
        echo(f"smtp {where} with {len(server.filers)} filer(s); Ctrl-C to stop")
        sys.stdout.flush()  # whoever started us may be waiting for that line (the port when it was 0)
        try:
            while not stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
