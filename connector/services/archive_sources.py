"""The messages of an archive, read one at a time with where each one ends, so an import can resume there.

A source is an mbox file (position: the byte offset after a message), a folder of .eml and .msg files
(position: the last file name read; files are read in name order, sub-folders are sources of their own) or
one .eml/.msg file. Nothing holds more than one message, except a folder's list of names.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from connector.errors import InputError

MESSAGE_FILES = (".eml", ".msg")
MBOX_FILES = (".mbox", ".mbx")
_FROM_LINE = re.compile(rb"^From ")
_ESCAPED_FROM = re.compile(rb"^>(>*From )")  # mboxrd: one '>' was added before every 'From ' line


@dataclass(frozen=True)
class Source:
    path: Path
    kind: str  # mbox | folder | file
    size: int  # bytes to read, for the progress bar


@dataclass(frozen=True)
class Item:
    """One message (or one unreadable one: ``raw`` None, ``problem`` why) and the position after it."""

    label: str
    raw: bytes | None
    position: str
    size: int  # bytes of the source it covers
    problem: str = ""
    outlook: bool = False  # an Outlook .msg file, converted to RFC 5322 before parsing


def sources(paths: list[Path]) -> Iterator[Source | tuple[Path, str]]:
    """The sources under ``paths`` in a stable order, or (path, why) for a path that cannot be read."""
    for path in paths:
        if not path.exists():
            yield path, "no such file or folder"
        elif path.is_dir():
            yield from _folders(path.resolve())
        elif path.is_file():
            yield Source(path.resolve(), "mbox" if is_mbox(path) else "file", path.stat().st_size)
        else:
            yield path, "not a file or folder"


def _folders(root: Path) -> Iterator[Source]:
    for folder, subfolders, files in os.walk(root):
        subfolders.sort()
        here = Path(folder)
        size = sum((here / f).stat().st_size for f in files if f.lower().endswith(MESSAGE_FILES))
        if size or any(f.lower().endswith(MESSAGE_FILES) for f in files):
            yield Source(here, "folder", size)
        for name in sorted(files):
            if name.lower().endswith(MBOX_FILES) or (not name.lower().endswith(MESSAGE_FILES)
                                                     and not name.startswith(".") and is_mbox(here / name)):
                yield Source(here / name, "mbox", (here / name).stat().st_size)


def is_mbox(path: Path) -> bool:
    if path.suffix.lower() in MBOX_FILES:
        return True
    try:
        with path.open("rb") as handle:
            return handle.read(5) == b"From "
    except OSError:
        return False


def read(source: Source, position: str) -> Iterator[Item]:
    """The source's messages after ``position`` (from the start when it is empty)."""
    if source.kind == "mbox":
        yield from _mbox(source.path, int(position or 0))
    elif source.kind == "folder":
        yield from _folder(source.path, position)
    elif not position:
        yield _file(source.path, source.path.name, str(source.path))


def _file(path: Path, position: str, label: str) -> Item:
    outlook = path.suffix.lower() == ".msg"
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return Item(label, None, position, 0, problem=f"cannot read: {exc.strerror or exc}")
    return Item(label, raw, position, len(raw), outlook=outlook)


def _folder(folder: Path, after: str) -> Iterator[Item]:
    names = sorted(entry.name for entry in os.scandir(folder)
                   if entry.is_file() and entry.name.lower().endswith(MESSAGE_FILES))
    for name in names:
        if after and name <= after:
            continue
        yield _file(folder / name, name, str(folder / name))


def _mbox(path: Path, offset: int) -> Iterator[Item]:
    """mbox messages split at 'From ' lines, streamed: mboxrd's '>From ' escapes undone."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    with handle:
        handle.seek(offset)
        start, lines, index = offset, [], _count_before(path, offset)
        position = offset
        for line in handle:
            if _FROM_LINE.match(line) and (lines or position == start):
                if lines:
                    index += 1
                    yield Item(f"{path}#{index}", _message(lines), str(position), position - start)
                start, lines = position, []
            else:
                lines.append(_ESCAPED_FROM.sub(rb"\1", line))
            position += len(line)
        if lines:
            yield Item(f"{path}#{index + 1}", _message(lines), str(position), position - start)


def _message(lines: list[bytes]) -> bytes:
    if lines and lines[-1] in (b"\n", b"\r\n"):  # the blank line before the next 'From ' belongs to the mbox
        lines = lines[:-1]
    return b"".join(lines)


def _count_before(path: Path, offset: int) -> int:
    """How many messages precede ``offset``: labels stay '#n' of the whole file after a resume."""
    if offset == 0:
        return 0
    count = 0
    with path.open("rb") as handle:
        for line in handle:
            if _FROM_LINE.match(line):
                count += 1
            offset -= len(line)
            if offset <= 0:
                break
    return count


def count(source: Source) -> int:
    """How many messages ``source`` holds, read without parsing them (the total of a progress view)."""
    if source.kind == "mbox":
        return _count_before(source.path, source.size) if source.size else 0
    if source.kind == "folder":
        return sum(1 for entry in os.scandir(source.path)
                   if entry.is_file() and entry.name.lower().endswith(MESSAGE_FILES))
    return 1
