"""Conversations as Exchange computes them: ``conversationId`` from the topic, ``conversationIndex`` from Outlook.

* ``conversationId`` (PidTagConversationId, [MS-OXOMSG] 2.2.1.2,
  https://learn.microsoft.com/en-us/openspecs/exchange_server_protocols/ms-oxomsg/f8e4a5fa-cb73-4eca-b174-72e1fda821a6):
  unless PidTagConversationIndexTracking is set (internet mail never sets it), the MD5 of the upper-cased
  UTF-16LE conversation topic (at most 255 characters). The topic is the normalised subject (PidTagConversationTopic,
  "Tracking conversations", learn.microsoft.com/office/client-developer/outlook/mapi/tracking-conversations). So
  unrelated mails called "Invoice" share one conversation, and a reply whose subject was edited starts another.
  Graph's id is an EWS-style id of the mailbox's store, hence scoped per mailbox here.
* ``conversationIndex`` (PidTagConversationIndex, [MS-OXOMSG] 2.2.1.3; the MIME header ``Thread-Index``,
  [MS-OXCMAIL]): a 22-byte header block (0x01, 5 bytes of FILETIME, a 16-byte GUID) for a new conversation and one
  5-byte child block per reply (ScCreateConversationIndex, "Tracking conversations"). Outlook writes it on what it
  sends; a store gives mail arriving without one a fresh header ("a message store provider can choose to ensure
  that PR_CONVERSATION_INDEX is always set ... using NULL if not", PidTagConversationIndex canonical property) — so
  a reply from a non-Outlook client starts a new root, whatever its In-Reply-To says.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import struct

from . import mime

HEADER_BYTES, CHILD_BYTES = 22, 5
_FILETIME_EPOCH = 11_644_473_600  # seconds from 1601-01-01 to 1970-01-01


def conversation_id(user_id: str, subject: str) -> str:
    topic = mime.normalize_subject(subject).upper()[:255]
    digest = hashlib.md5(topic.encode("utf-16-le"), usedforsecurity=False).digest()
    store = hashlib.sha256(user_id.encode()).digest()[:8]
    return "AAQkAD" + base64.urlsafe_b64encode(store + digest).decode()


def _filetime(now: float) -> int:
    return int((now + _FILETIME_EPOCH) * 10_000_000)


def new_index(now: float) -> str:
    """A header block: reserved 0x01, the 5 high-order bytes of the FILETIME, a new GUID."""
    header = b"\x01" + struct.pack(">Q", _filetime(now))[:5] + secrets.token_bytes(16)
    return base64.b64encode(header).decode()


def child_index(parent: str, now: float) -> str:
    """ScCreateConversationIndex(parent): the parent's bytes plus a 5-byte child block (time delta + random)."""
    raw = index_bytes(parent)
    if raw is None:
        return new_index(now)
    delta = max(0, _filetime(now) - (int.from_bytes(raw[1:6], "big") << 24))
    block = struct.pack(">I", (delta >> 18) & 0x7FFFFFFF) + secrets.token_bytes(1)
    return base64.b64encode(raw + block).decode()


def index_bytes(value: str | None) -> bytes | None:
    """A well-formed index ([MS-OXOMSG] 2.2.1.2: at least 22 bytes, first byte 0x01), or None."""
    try:
        raw = base64.b64decode((value or "").strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) < HEADER_BYTES or raw[0] != 1 or (len(raw) - HEADER_BYTES) % CHILD_BYTES:
        return None
    return raw


def index_of(parsed: mime.Parsed, now: float) -> str:
    """The index a store gives an arriving item: its Thread-Index if well formed, else a new header."""
    value = next((v for k, v in parsed.headers if k.lower() == "thread-index"), "")
    return value.strip() if index_bytes(value) is not None else new_index(now)
