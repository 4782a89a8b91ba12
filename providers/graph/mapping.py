"""Graph `message` resources → the core's envelope (header-only from delta, complete from MIME)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from connector.errors import MimeError
from connector.mail.envelope import Address, Direction, Envelope, Source, normalize_message_id
from connector.mail.mime import parse

# What delta and list calls ask for: enough to decide, nothing of the body. `/messages` spans every
# folder, Drafts included, so isDraft is asked for (and checked) everywhere.
SELECT = ["id", "internetMessageId", "conversationId", "conversationIndex", "subject", "from", "sender", "toRecipients",
          "ccRecipients", "bccRecipients", "replyTo", "sentDateTime", "receivedDateTime",
          "internetMessageHeaders", "parentFolderId", "isDraft"]
# Sent Items copies have no internetMessageHeaders (microsoftgraph/microsoft-graph-docs#2716), yet a sent reply
# must find its logged thread before anything is downloaded: its In-Reply-To and References are also the MAPI
# properties PidTagInReplyToId (0x1042) and PidTagInternetReferences (0x1039), [MS-OXPROPS], on every copy.
IN_REPLY_TO, REFERENCES = "String 0x1042", "String 0x1039"
EXPAND = [f"singleValueExtendedProperties($filter=id eq '{IN_REPLY_TO}' or id eq '{REFERENCES}')"]
_ID = re.compile(r"<[^<>\s]+>")
Item = Mapping[str, Any]  # one message of a page's JSON, as Graph sent it


ROOT_BYTES = 22  # the header block of PidTagConversationIndex, shared by a message and every reply to it


def thread_key(mailbox: str, conversation_id: str, root: str) -> str:
    """``graph:{mailbox}:{conversationId}#{conversationIndex root}``: the core treats it as one thread's identity.

    conversationId alone is not: Exchange derives it from the subject topic ([MS-OXOMSG] 2.2.1.2), so unrelated
    mails with the same subject share it. The 22-byte root of conversationIndex ([MS-OXOMSG] 2.2.1.3) is one
    conversation as Outlook chains it (a new GUID per new message); the conversationId stays in the key only as
    the hint `thread()` lists by (`linked` then keeps the verified members).
    """
    return f"graph:{mailbox}:{conversation_id}#{root}"


def conversation_of(envelope: Envelope) -> str:
    return envelope.thread_key.rsplit(":", 1)[-1].partition("#")[0]


def root_of(envelope: Envelope) -> str:
    """The conversationIndex root in the thread key ("" for keys written before it was part of them)."""
    return envelope.thread_key.rsplit(":", 1)[-1].partition("#")[2]


def _root(message: Item) -> str:
    """The index's header block, or the item's own id (it then chains to nothing) when it has no valid one."""
    raw = _index(message)
    if len(raw) >= ROOT_BYTES and raw[0] == 1:
        return base64.urlsafe_b64encode(raw[:ROOT_BYTES]).decode().rstrip("=")
    return f"id.{message.get('id')}"


def _index(message: Item) -> bytes:
    """conversationIndex: Edm.Binary, base64 in the JSON (learn.microsoft.com/graph/api/resources/message)."""
    try:
        return base64.b64decode(message.get("conversationIndex") or "")
    except (binascii.Error, ValueError):
        return b""


def linked(opening: Envelope, conversation: Sequence[Envelope]) -> list[Envelope]:
    """The members of ``opening``'s listed conversation that really are its thread, newest first as listed.

    A member counts when it chains to the thread by Message-ID (its In-Reply-To/References name a member, or a
    member names it) or shares a member's conversationIndex root; a same-subject stranger does neither.
    """
    own = next((e for e in conversation if e.provider_message_id == opening.provider_message_id), opening)
    ids = {i for i in (own.internet_message_id, *own.related_message_ids) if i}
    roots = {root_of(own)} - {""}
    rest = [e for e in conversation if e.provider_message_id != opening.provider_message_id]
    found: set[str] = set()
    grew = True
    while grew:
        grew = False
        for member in rest:
            if member.provider_message_id in found:
                continue
            if root_of(member) in roots or member.internet_message_id in ids or ids.intersection(
                    member.related_message_ids):
                found.add(member.provider_message_id)
                ids.update((member.internet_message_id, *member.related_message_ids))
                roots.add(root_of(member))
                grew = True
    return [e for e in rest if e.provider_message_id in found]


def _addresses(recipients: Iterable[Item] | None) -> tuple[Address, ...]:
    found = []
    for recipient in recipients or []:
        email = recipient.get("emailAddress") if isinstance(recipient, Mapping) else None
        if isinstance(email, Mapping) and email.get("address"):
            found.append(Address(str(email["address"]), str(email.get("name") or "")))
    return tuple(found)


def _one(recipient: Item | None) -> Address | None:
    found = _addresses([recipient] if recipient else [])
    return found[0] if found else None


def _ids(value: str | None) -> tuple[str, ...]:
    return tuple(normalize_message_id(m) for m in _ID.findall(value or ""))


def _moment(value: Any) -> datetime | None:
    """Edm.DateTimeOffset as Graph writes it (``2026-11-26T09:33:18Z``, up to 7 fraction digits)."""
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def is_removed(message: Item) -> bool:
    return "@removed" in message


def header_envelope(message: Item, mailbox: str, *, sent: bool) -> Envelope | None:
    """A header-only envelope from one item of a delta or list page's JSON, or None for items that are not mail:
    drafts (in any folder; they have an internetMessageId like sent mail) and items without an id.

    The JSON is read as it is rather than through the SDK's models: msgraph-sdk builds a Message's field table
    on every item by running some 2,400 import statements (`Entity.get_field_deserializers`), about 45 ms of
    CPU per item and as much again per extended property, the largest CPU cost of a Graph step.

    ``sent`` says whether the message lies in the mailbox's Sent Items: only where Exchange put it
    tells the owner's own mail apart, never the ``from`` a stranger can write. Sent Items copies have no
    internetMessageHeaders: their In-Reply-To/References come from the MIME (`complete_envelope`).
    """
    if message.get("isDraft") or not message.get("internetMessageId") or not message.get("id"):
        return None
    message_id = str(message["id"])
    headers = tuple((str(h.get("name") or ""), str(h.get("value") or ""))
                    for h in message.get("internetMessageHeaders") or [] if isinstance(h, Mapping))
    by_name = {name.lower(): value for name, value in headers}
    extended = {str(p.get("id") or "").lower(): str(p.get("value") or "")
                for p in message.get("singleValueExtendedProperties") or [] if isinstance(p, Mapping)}
    return Envelope(
        source=Source.GRAPH, internet_message_id=normalize_message_id(str(message["internetMessageId"])),
        subject=str(message.get("subject") or ""), mailbox=mailbox.lower(), provider_message_id=message_id,
        thread_key=thread_key(mailbox.lower(), str(message.get("conversationId") or message_id), _root(message)),
        in_reply_to=_ids(by_name.get("in-reply-to") or extended.get(IN_REPLY_TO.lower())),
        references=_ids(by_name.get("references") or extended.get(REFERENCES.lower())),
        from_=_one(message.get("from")), sender=_one(message.get("sender")),
        reply_to=_addresses(message.get("replyTo")), to=_addresses(message.get("toRecipients")),
        cc=_addresses(message.get("ccRecipients")), bcc=_addresses(message.get("bccRecipients")),
        sent_at=_moment(message.get("sentDateTime")) or _moment(message.get("receivedDateTime")),
        direction=Direction.SENT if sent else Direction.RECEIVED, headers=headers, complete=False,
        # A header block alone: the first item of its Outlook conversation (a new topic, or a reply from a client
        # that writes no Thread-Index) — a reply under an edited subject looks like this.
        opens_thread=len(_index(message)) == ROOT_BYTES,
    )


def message_id_spellings(message_id: str) -> list[str]:
    """The ways ``message_id`` (domain lower-cased by the core) may be written in a mailbox.

    Exchange writes its server name in upper case (``<…@MWHPR1120.namprd22.prod.outlook.com>`` in the
    Graph docs' message example; on-premises servers often the whole FQDN) and Microsoft documents no case
    rule for ``$filter=internetMessageId eq``: a look-up asks for those spellings too.
    """
    local, at, domain = message_id.strip().strip("<>").rpartition("@")
    if not at:
        return [message_id]
    first, dot, rest = domain.partition(".")
    domains = (domain, domain.upper(), first.upper() + dot + rest)
    return list(dict.fromkeys(f"<{local}@{d}>" for d in domains))


def complete_envelope(raw: bytes, header: Envelope) -> Envelope:
    """The MIME of the message, parsed by the core's parser, keeping what only Graph knows.

    Bytes the parser cannot read at all never block the mailbox: the message is filed with what Graph's
    JSON said (addresses, subject, dates) and a note, instead of failing the page forever.
    """
    try:
        full = parse(raw, source=Source.GRAPH, mailbox=header.mailbox, provider_message_id=header.provider_message_id,
                     thread_key=header.thread_key, direction=header.direction)
    except MimeError as exc:
        return header.with_changes(complete=True, problems=(*header.problems, f"the MIME could not be read: {exc}"))
    return full.with_changes(bcc=full.bcc or header.bcc, internet_message_id=header.internet_message_id,
                             in_reply_to=full.in_reply_to or header.in_reply_to,
                             references=full.references or header.references)
