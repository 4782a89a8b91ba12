"""Graph JSON for stored objects: message, attachment, user, mailFolder.

Property names, value types and defaults follow the Graph v1.0 message resource as documented
(see tests/fixtures/payloads/graph/). ``bccRecipients`` is filled only where the stored copy still
has its Bcc header, i.e. on the sender's Sent Items copy (and drafts); ``internetMessageHeaders`` and
``uniqueBody`` appear only when ``$select``ed, as on Graph, and ``internetMessageHeaders`` only on
copies that came in from the transport: Sent Items copies and drafts have none (see `state`).
"""

from __future__ import annotations

import base64
import re
from typing import Any
from urllib.parse import quote

from . import mime
from .odata import MESSAGE_DEFAULT
from .state import Folder, StoredMessage, User, World
from .wire import IMMUTABLE_IDS, iso, odata_key


def item_id(message: StoredMessage) -> str:
    """The id this request's client sees: immutable if it asked for immutable ids, else the default id."""
    return message.id if IMMUTABLE_IDS.get() else message.rest_id


def recipient(item: mime.Recipient | None) -> dict[str, Any] | None:
    if item is None:
        return None
    name, address = item
    return {"emailAddress": {"name": name or address, "address": address}}


def _body(message: StoredMessage, preference: str | None) -> dict[str, str]:
    parsed = message.parsed
    if preference == "text" and parsed.body_type == "html":
        return {"contentType": "text", "content": parsed.text}
    if preference == "html" and parsed.body_type == "text":
        return {"contentType": "html", "content": mime.text_to_html(parsed.body)}
    return {"contentType": parsed.body_type, "content": parsed.body}


def _preview(text: str) -> str:
    return re.sub(r"[ \t]+", " ", text.strip())[:255]


def message_values(message: StoredMessage, names: list[str], preference: str | None) -> dict[str, Any]:
    """The named properties of a stored message, in Graph's JSON forms."""
    parsed = message.parsed
    values: dict[str, Any] = {
        "id": item_id(message),
        "createdDateTime": iso(message.created),
        "lastModifiedDateTime": iso(message.last_modified),
        "changeKey": message.change_key,
        "categories": list(message.categories),
        "receivedDateTime": iso(message.received),
        "sentDateTime": iso(parsed.sent_at or message.received),
        "hasAttachments": any(not a.is_inline for a in parsed.attachments),
        "internetMessageId": parsed.message_id,
        "subject": parsed.subject,
        "bodyPreview": _preview(parsed.text),
        "importance": parsed.importance,
        "parentFolderId": message.folder_id,
        "conversationId": message.conversation_id,
        "conversationIndex": message.conversation_index,
        "isDeliveryReceiptRequested": False,
        "isReadReceiptRequested": False,
        "isRead": message.is_read,
        "isDraft": message.is_draft,
        "webLink": "https://outlook.office365.com/owa/?ItemID="
        f"{quote(item_id(message), safe='')}&exvsurl=1&viewmodel=ReadMessageItem",
        "inferenceClassification": "focused",
        "flag": {"flagStatus": "notFlagged"},
        "sender": recipient(parsed.sender),
        "from": recipient(parsed.from_),
        "toRecipients": [recipient(r) for r in parsed.to],
        "ccRecipients": [recipient(r) for r in parsed.cc],
        "bccRecipients": [recipient(r) for r in parsed.bcc],
        "replyTo": [recipient(r) for r in parsed.reply_to],
    }
    for name in ("body", "uniqueBody"):
        if name in names:
            values[name] = _body(message, preference)
    if "internetMessageHeaders" in names and message.internet_headers:
        values["internetMessageHeaders"] = [{"name": k, "value": v} for k, v in parsed.headers]
    # A sent copy answers without the property at all, as in microsoft-graph-docs#2716 and #3066.
    return {name: values[name] for name in names if name in values}


# MAPI properties a client may $expand as singleValueExtendedProperties: PidTagInReplyToId (0x1042) and
# PidTagInternetReferences (0x1039), [MS-OXPROPS]. Exchange keeps them on every item that has them, the
# Sent Items copy included (office-js#4717 reads PR_IN_REPLY_TO_ID_W of Outlook replies), while that copy
# has no internetMessageHeaders.
EXTENDED = {
    "String 0x1042": lambda parsed: " ".join(parsed.in_reply_to),
    "String 0x1039": lambda parsed: " ".join(parsed.references),
}


def extended_properties(message: StoredMessage, wanted: list[str]) -> list[dict[str, str]]:
    found = [(pid, EXTENDED[pid](message.parsed)) for pid in wanted if pid in EXTENDED]
    return [{"id": pid, "value": value} for pid, value in found if value]


def message_json(world: World, message: StoredMessage, select: list[str] | None, preference: str | None,
                 *, context: str | None = None, typed: bool = False, expand: list[str] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if context:
        data["@odata.context"] = context
    if typed:
        data["@odata.type"] = "#microsoft.graph.message"
    data["@odata.etag"] = f'W/"{message.change_key}"'
    data["id"] = item_id(message)
    data.update(message_values(message, select or MESSAGE_DEFAULT, preference))
    if expand is not None:
        properties = extended_properties(message, expand)
        if properties:  # none of them set: the navigation property is left out
            data["singleValueExtendedProperties"] = properties
    return data


def select_suffix(select: list[str] | None) -> str:
    return f"({','.join(select)})" if select else ""


def attachment_json(message: StoredMessage, index: int, expand_item: bool = False) -> dict[str, Any]:
    att = message.parsed.attachments[index]
    common = {
        "id": message.attachment_ids[index],
        "lastModifiedDateTime": iso(message.last_modified),
        "name": att.name,
        "contentType": att.content_type,
        "size": len(att.content),
        "isInline": att.is_inline,
    }
    if att.is_item:
        data: dict[str, Any] = {"@odata.type": "#microsoft.graph.itemAttachment", **common}
        if expand_item:
            inner = mime.parse(att.content)
            data["item"] = {
                "@odata.type": "#microsoft.graph.message",
                "id": message.attachment_ids[index],
                "subject": inner.subject,
                "sentDateTime": iso(inner.sent_at) if inner.sent_at else None,
                "internetMessageId": inner.message_id,
                "body": {"contentType": inner.body_type, "content": inner.body},
                "from": recipient(inner.from_),
                "toRecipients": [recipient(r) for r in inner.to],
                "ccRecipients": [recipient(r) for r in inner.cc],
            }
        return data
    return {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "@odata.mediaContentType": att.content_type,
        **common,
        "contentId": att.content_id,
        "contentLocation": None,
        "contentBytes": base64.b64encode(att.content).decode(),
    }


def user_json(user: User, root: str, *, context: bool = True) -> dict[str, Any]:
    given, _, surname = user.display_name.partition(" ")
    data: dict[str, Any] = {"@odata.context": f"{root}/$metadata#users/$entity"} if context else {}
    data.update({
        "businessPhones": [], "displayName": user.display_name, "givenName": given or None,
        "jobTitle": None, "mail": user.address, "mobilePhone": None, "officeLocation": None,
        "preferredLanguage": None, "surname": surname or None, "userPrincipalName": user.principal_name,
        "id": user.id, "proxyAddresses": [f"SMTP:{user.address}", *(f"smtp:{a}" for a in user.aliases)],
    })
    return data


def folder_json(world: World, folder: Folder) -> dict[str, Any]:
    """The v1.0 mailFolder resource (learn.microsoft.com/graph/api/resources/mailfolder): v1.0 has no
    ``wellKnownName`` (beta only): a client finds a well-known folder's id by ``GET mailFolders/{name}``."""
    messages = world.mailbox_messages(folder.user_id, folder.id)
    return {
        "id": folder.id, "displayName": folder.display_name, "parentFolderId": folder.parent_id,
        "childFolderCount": len(world.child_folders(folder.id)),
        "unreadItemCount": sum(1 for m in messages if not m.is_read),
        "totalItemCount": len(messages), "sizeInBytes": sum(len(m.raw) for m in messages),
        "isHidden": folder.is_hidden,
    }


def message_context(root: str, user: User, select: list[str] | None, *, entity: bool) -> str:
    suffix = select_suffix(select) + ("/$entity" if entity else "")
    return f"{root}/$metadata#users('{odata_key(user.id)}')/messages{suffix}"
