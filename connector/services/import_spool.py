"""Uploaded archives on disk: each upload streamed into a folder of its own under `imports.spool_dir`, never
held in memory, and refused once it is over `imports.max_upload_bytes`; a .zip of .eml/.msg/mbox files is
unpacked there by the worker before the import (flattened, member names never trusted, capped in size).

The folder is then an ordinary archive for `services.archive`: its .eml/.msg files one source, each mbox
another.
"""

from __future__ import annotations

import re
import secrets
import shutil
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from connector.config import ImportSettings
from connector.errors import InputError
from connector.services.archive_sources import MBOX_FILES, MESSAGE_FILES, count, sources
from connector.services.archive_sources import Source as ArchiveSource

ACCEPTED = (*MESSAGE_FILES, *MBOX_FILES, ".zip")
# A raw request body names its format by Content-Type (RFC 4155 mbox, RFC 5322 message, Outlook .msg, zip).
CONTENT_TYPES = {"application/mbox": ".mbox", "message/rfc822": ".eml", "application/vnd.ms-outlook": ".msg",
                 "application/zip": ".zip", "application/x-zip-compressed": ".zip"}
UNPACKED = "unpacked"
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


class UploadTooLarge(InputError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the upload is larger than the limit of {limit:,} bytes (imports.max_upload_bytes)")
        self.limit = limit


@dataclass
class Upload:
    """A folder being filled with one upload's files; ``discard`` removes it (a refused or broken upload)."""

    directory: Path
    limit: int
    written: int = 0
    names: list[str] = field(default_factory=list)
    _handle: BinaryIO | None = None

    def begin(self, filename: str) -> None:
        """Start the next file; only archive formats are taken (else InputError, before a byte is stored)."""
        self.end()
        name = safe_name(filename)
        if not name.lower().endswith(ACCEPTED):
            raise InputError(f"{filename!r} is not an archive this import reads (.eml, .msg, .mbox, .zip)")
        self.names.append(filename or name)
        self._handle = (self.directory / f"{len(self.names):04d}-{name}").open("xb")

    def write(self, chunk: bytes) -> None:
        assert self._handle is not None, "begin() a file first"
        self.written += len(chunk)
        if self.written > self.limit:
            raise UploadTooLarge(self.limit)
        self._handle.write(chunk)

    def end(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def discard(self) -> None:
        self.end()
        shutil.rmtree(self.directory, ignore_errors=True)


def new_upload(settings: ImportSettings) -> Upload:
    """An empty folder for one upload, named so that nobody can guess or collide with it."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    directory = Path(settings.spool_dir).resolve() / f"{stamp}-{secrets.token_hex(8)}"
    directory.mkdir(parents=True, mode=0o700)
    return Upload(directory, settings.max_upload_bytes)


def safe_name(filename: str) -> str:
    """A client's file name reduced to a harmless base name (no folders, no dots in front)."""
    base = _UNSAFE.sub("_", Path(filename.replace("\\", "/")).name).strip(" .")
    return base[-120:] or "upload"


def unpack(directory: Path, max_bytes: int) -> None:
    """Unpack the folder's .zip files into ``unpacked/`` once (a resumed import finds it done). Only archive
    members are taken, flattened and renamed in order; more than ``max_bytes`` unpacked is refused."""
    target = directory / UNPACKED
    zips = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() == ".zip")
    if target.exists() or not zips:
        return
    partial = directory / f".{UNPACKED}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    total, index = 0, 0
    for path in zips:
        try:
            with zipfile.ZipFile(path) as archive:
                for member in archive.infolist():
                    name = safe_name(member.filename)
                    if member.is_dir() or not name.lower().endswith(MESSAGE_FILES + MBOX_FILES):
                        continue
                    index += 1
                    total = _extract(archive, member, partial / f"{index:06d}-{name}", total, max_bytes)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError) as exc:
            raise InputError(f"{path.name[5:]}: not a readable .zip ({exc})") from exc
    partial.rename(target)


def _extract(archive: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path, total: int, max_bytes: int) -> int:
    """Copy one member, counting what it really unpacks to (the sizes in the header may lie)."""
    with archive.open(member) as source, target.open("xb") as sink:
        while chunk := source.read(1024 * 1024):
            total += len(chunk)
            if total > max_bytes:
                raise InputError(f"the .zip unpacks to more than {max_bytes:,} bytes (imports.max_unpacked_bytes)")
            sink.write(chunk)
    return total


def archive_sources(directory: Path) -> list[ArchiveSource]:
    return [s for s in sources([directory]) if isinstance(s, ArchiveSource)]


def count_messages(directory: Path) -> int:
    """How many messages the upload holds (each .eml/.msg file one, each mbox its 'From ' lines)."""
    return sum(count(source) for source in archive_sources(directory))
