"""A download written by a function that writes to a file (the export's zip), streamed as it is written.

The writer runs in a thread of its own with a database session of its own (the request's session may be closed
before the body is sent) and hands the bytes over through a small bounded queue, so at most a few chunks are
in memory whatever the size of the zip. A client that goes away stops the writer at its next write, and the
writer's transaction rolls back; `on_abort` is then called in a transaction of its own, to say so in the audit.
"""

from __future__ import annotations

import io
import queue
import threading
from collections.abc import Callable, Iterator

from sqlalchemy.engine import Engine
from sqlmodel import Session

from connector.db import transaction

CHUNK = 64 * 1024
_DONE = object()


class _Gone(Exception):
    """The client stopped reading."""


class _Pipe(io.RawIOBase):
    def __init__(self, into: queue.Queue[object], gone: threading.Event) -> None:
        self.into, self.gone, self.buffer = into, gone, bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self.buffer += data
        if len(self.buffer) >= CHUNK:
            self.hand_over()
        return len(data)

    def hand_over(self) -> None:
        chunk, self.buffer = bytes(self.buffer), bytearray()
        while chunk:
            if self.gone.is_set():
                raise _Gone
            try:
                self.into.put(chunk, timeout=0.5)
                return
            except queue.Full:
                continue


def stream_written(engine: Engine, write: Callable[[Session, io.RawIOBase], object],
                   on_abort: Callable[[Session], object] | None = None) -> Iterator[bytes]:
    """The bytes ``write`` writes (in its own committed transaction), chunk by chunk."""
    handed: queue.Queue[object] = queue.Queue(maxsize=4)
    gone = threading.Event()
    pipe = _Pipe(handed, gone)

    def produce() -> None:
        try:
            with transaction(engine) as session:
                write(session, pipe)
                pipe.hand_over()
        except BaseException as exc:  # handed to the reader, who raises it
            if on_abort is not None:
                with transaction(engine) as session:
                    on_abort(session)
            if not gone.is_set():
                handed.put(exc)
            return
        handed.put(_DONE)

    threading.Thread(target=produce, name="download", daemon=True).start()
    try:
        while (item := handed.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        gone.set()
