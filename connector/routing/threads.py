"""Thread keys (F13): provider thread keys and RFC 5322 message-ids that tie messages together.

A provider thread key is trusted as one thread's identity, so an adapter must only give one that never spans
unrelated mail (Gmail's threadId; for Graph the conversationIndex root, not the subject-derived conversationId).
"""

from __future__ import annotations

from connector.mail.envelope import Envelope

PROVIDER = "provider"
MESSAGE_ID = "message_id"


def lookup_keys(envelope: Envelope) -> list[str]:
    """Keys that find the thread this message belongs to, if any of it is logged."""
    keys = [envelope.thread_key] if envelope.thread_key else []
    return keys + list(envelope.related_message_ids) + [envelope.internet_message_id]


def keys_to_record(envelope: Envelope) -> tuple[tuple[str, str], ...]:
    """Keys a logged message adds to its thread, so later replies and forwards find it."""
    keys: list[tuple[str, str]] = []
    if envelope.thread_key:
        keys.append((PROVIDER, envelope.thread_key))
    keys.append((MESSAGE_ID, envelope.internet_message_id))
    keys.extend((MESSAGE_ID, mid) for mid in envelope.related_message_ids)
    return tuple(dict.fromkeys(keys))
