"""Outlook .msg files for the tests, written from scratch: an OLE compound file (MS-CFB, version 3) holding
MAPI properties as Outlook lays them out (MS-OXMSG). olefile only reads compound files, and the real
Outlook samples found are under licences this product cannot ship, so the tests build their own."""

from __future__ import annotations

import itertools
import struct
from datetime import datetime

FREE, END, FAT_SECTOR, NO_STREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
SECTOR, MINI, CUTOFF = 512, 64, 4096
PT_LONG, PT_SYSTIME, PT_UNICODE, PT_BINARY = 0x0003, 0x0040, 0x001F, 0x0102


def compound_file(streams: dict[str, bytes]) -> bytes:
    """A compound file holding ``streams`` ('storage/sub/stream' paths; storages are implied)."""
    entries: list[dict] = [{"name": "Root Entry", "type": 5, "kids": [], "data": b""}]
    index = {"": 0}
    for path in sorted(streams):
        parts = path.split("/")
        for depth in range(1, len(parts) + 1):
            key = "/".join(parts[:depth])
            if key not in index:
                leaf = depth == len(parts)
                index[key] = len(entries)
                entries.append({"name": parts[depth - 1], "type": 2 if leaf else 1, "kids": [],
                                "data": streams[path] if leaf else b""})
                entries[index["/".join(parts[:depth - 1])]]["kids"].append(index[key])
    mini, minifat, big = bytearray(), [], []
    for entry in entries[1:]:
        data = entry["data"]
        if entry["type"] != 2 or not data:
            entry["start"], entry["size"] = (END if entry["type"] == 2 else 0), len(data)
        elif len(data) < CUTOFF:
            count = -(-len(data) // MINI)
            entry["start"], entry["size"] = len(minifat), len(data)
            minifat += [len(minifat) + i + 1 for i in range(count - 1)] + [END]
            mini += data.ljust(count * MINI, b"\0")
        else:
            big.append(entry)
    directory_sectors = -(-len(entries) * 128 // SECTOR)
    minifat_sectors = -(-len(minifat) * 4 // SECTOR)
    mini_sectors = -(-len(mini) // SECTOR)
    big_sectors = sum(-(-len(e["data"]) // SECTOR) for e in big)
    rest = directory_sectors + minifat_sectors + mini_sectors + big_sectors
    fat_sectors = 1
    while fat_sectors * (SECTOR // 4) < fat_sectors + rest:
        fat_sectors += 1
    fat = [FAT_SECTOR] * fat_sectors
    body = bytearray()

    def chain(data: bytes) -> int:
        if not data:
            return END
        start, count = len(fat), -(-len(data) // SECTOR)
        fat.extend([start + i + 1 for i in range(count - 1)] + [END])
        body.extend(data.ljust(count * SECTOR, b"\0"))
        return start

    directory_start = len(fat)
    fat.extend([directory_start + i + 1 for i in range(directory_sectors - 1)] + [END])
    body.extend(b"\0" * directory_sectors * SECTOR)  # written last, once every start sector is known
    minifat_start = chain(b"".join(struct.pack("<I", n) for n in minifat))
    entries[0]["start"], entries[0]["size"] = chain(bytes(mini)), len(mini)
    for entry in big:
        entry["start"], entry["size"] = chain(entry["data"]), len(entry["data"])
    directory = b"".join(_entry(entry, entries) for entry in entries).ljust(directory_sectors * SECTOR, b"\0")
    body[:len(directory)] = directory
    fat_bytes = b"".join(struct.pack("<I", n) for n in fat).ljust(fat_sectors * SECTOR, b"\xff")
    difat = [*range(fat_sectors), *[FREE] * (109 - fat_sectors)]
    header = struct.pack("<8s16sHHHHH6sIIIIIIIII", bytes.fromhex("D0CF11E0A1B11AE1"), b"\0" * 16, 0x3E, 3,
                         0xFFFE, 9, 6, b"\0" * 6, 0, fat_sectors, directory_start, 0, CUTOFF,
                         minifat_start if minifat else END, minifat_sectors, END, 0)
    header += b"".join(struct.pack("<I", n) for n in difat)
    return header + fat_bytes + bytes(body)


def _entry(entry: dict, entries: list[dict]) -> bytes:
    name = entry["name"].encode("utf-16-le") + b"\0\0"
    kids = sorted(entry["kids"], key=lambda i: (len(entries[i]["name"]), entries[i]["name"].upper()))
    for before, after in itertools.pairwise(kids):  # siblings as a chain of right children: a valid BST
        entries[before]["right"] = after
    child = kids[0] if kids else NO_STREAM
    return struct.pack("<64sHBBIII16sIQQIQ", name, len(name), entry["type"], 1, NO_STREAM,
                       entry.get("right", NO_STREAM), child, b"\0" * 16, 0, 0, 0, entry.get("start", END),
                       entry.get("size", 0))


# ------------------------------------------------------------------------------------------- MAPI
def _text(prop: int, value: str) -> tuple[str, bytes]:
    return f"__substg1.0_{prop:04X}{PT_UNICODE:04X}", value.encode("utf-16-le")


def _fixed(header: int, values: dict[int, tuple[int, bytes]]) -> bytes:
    return b"\0" * header + b"".join(struct.pack("<HHI8s", kind, prop, 6, value.ljust(8, b"\0"))
                                     for prop, (kind, value) in values.items())


def _filetime(moment: datetime) -> bytes:
    delta = moment - datetime(1601, 1, 1, tzinfo=moment.tzinfo)
    return struct.pack("<q", int(delta.total_seconds() * 10_000_000))


def outlook_msg(*, subject: str, sender: tuple[str, str], recipients: list[tuple[str, str, int]], body: str,
                sent: datetime, message_id: str, html: str | None = None, transport_headers: str | None = None,
                attachments: list[tuple[str, str, bytes]] = ()) -> bytes:  # type: ignore[assignment]
    """An Outlook .msg: ``recipients`` as (name, address, 1 To | 2 Cc | 3 Bcc), ``attachments`` as (name, type,
    content). Without ``transport_headers`` it is a sent item, whose headers live in the properties only."""
    streams = dict([_text(0x0037, subject), _text(0x0C1A, sender[0]), _text(0x5D01, sender[1]),
                    _text(0x0C1E, "SMTP"), _text(0x1000, body), _text(0x1035, message_id)])
    if html is not None:
        streams[f"__substg1.0_1013{PT_BINARY:04X}"] = html.encode("utf-8")
    if transport_headers is not None:
        streams.update([_text(0x007D, transport_headers)])
    streams["__properties_version1.0"] = _fixed(32, {0x0039: (PT_SYSTIME, _filetime(sent)),
                                                     0x3FDE: (PT_LONG, struct.pack("<i", 65001))})
    for n, (name, address, role) in enumerate(recipients):
        folder = f"__recip_version1.0_#{n:08X}"
        streams.update({f"{folder}/{k}": v for k, v in (_text(0x3001, name), _text(0x39FE, address),
                                                        _text(0x3002, "SMTP"))})
        streams[f"{folder}/__properties_version1.0"] = _fixed(8, {0x0C15: (PT_LONG, struct.pack("<i", role))})
    for n, (name, content_type, content) in enumerate(attachments):
        folder = f"__attach_version1.0_#{n:08X}"
        streams.update({f"{folder}/{k}": v for k, v in (_text(0x3707, name), _text(0x370E, content_type))})
        streams[f"{folder}/__substg1.0_3701{PT_BINARY:04X}"] = content
        streams[f"{folder}/__properties_version1.0"] = _fixed(8, {})
    return compound_file(streams)
