"""The slice of OData query options the mail endpoints accept: $select, $filter, $top, $skip, $orderby.

``$filter`` understands ``property op literal`` clauses joined by ``and``, and such conjunctions joined
by ``or`` (``eq ne gt ge lt le``), over the message properties an adapter filters on: conversationId,
internetMessageId, subject, receivedDateTime, sentDateTime, createdDateTime, lastModifiedDateTime,
isRead, isDraft, hasAttachments, parentFolderId and ``from/emailAddress/address``. Anything else is a
400, as on Graph. Strings compare exactly except subject and sender address: Microsoft documents no
case rule for ``internetMessageId eq``, so the emulator takes the strict reading.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .wire import parse_iso

MESSAGE_DEFAULT = [
    "id", "createdDateTime", "lastModifiedDateTime", "changeKey", "categories", "receivedDateTime",
    "sentDateTime", "hasAttachments", "internetMessageId", "subject", "bodyPreview", "importance",
    "parentFolderId", "conversationId", "conversationIndex", "isDeliveryReceiptRequested",
    "isReadReceiptRequested", "isRead", "isDraft", "webLink", "inferenceClassification", "body",
    "sender", "from", "toRecipients", "ccRecipients", "bccRecipients", "replyTo", "flag",
]
MESSAGE_SELECT_ONLY = ["uniqueBody", "internetMessageHeaders"]
_CANONICAL = {name.lower(): name for name in MESSAGE_DEFAULT + MESSAGE_SELECT_ONLY}


class QueryError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def parse_select(value: str | None, kind: str = "message") -> list[str] | None:
    if not value:
        return None
    chosen: list[str] = []
    for raw in value.split(","):
        name = raw.strip()
        if not name:
            continue
        canonical = _CANONICAL.get(name.lower())
        if canonical is None:
            raise QueryError("RequestBroker--ParseUri",
                             f"Could not find a property named '{name}' on type 'microsoft.graph.{kind}'.")
        if canonical not in chosen:
            chosen.append(canonical)
    return chosen


_EXPAND = re.compile(r"^\s*singleValueExtendedProperties\s*\(\s*\$filter\s*=\s*(.+?)\s*\)\s*$", re.IGNORECASE)
_PROPERTY_ID = re.compile(r"^\s*id\s+eq\s+'([^']+)'\s*$", re.IGNORECASE)


def parse_expand(value: str | None) -> list[str] | None:
    """``$expand=singleValueExtendedProperties($filter=id eq 'String 0x1042' or id eq …)`` → the property ids
    asked for, in their canonical spelling (``String 0x1042``); None without ``$expand``. The only expansion
    of a message the emulator knows (Graph's "Get singleValueLegacyExtendedProperty" shape)."""
    if not value:
        return None
    match = _EXPAND.match(value)
    if match is None:
        raise QueryError("BadRequest", f"Parsing OData Select and Expand failed: unsupported expand '{value}'.")
    wanted: list[str] = []
    for part in _split(match.group(1), "or"):
        found = _PROPERTY_ID.match(part)
        if found is None:
            raise QueryError("ErrorInvalidUrlQueryFilter", "The query filter contains one or more invalid nodes.")
        kind, _, tag = found.group(1).strip().partition(" ")
        wanted.append(f"{kind.capitalize()} {tag.strip().lower()}")
    return wanted


def parse_int(value: str | None, default: int, name: str, upper: int = 1000) -> int:
    if value in (None, ""):
        return default
    try:
        number = int(str(value))
    except ValueError as exc:
        raise QueryError("BadRequest", f"Invalid value '{value}' for query option '{name}'.") from exc
    if number < 0:
        raise QueryError("BadRequest", f"Invalid value '{value}' for query option '{name}'.")
    return min(number, upper)


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq, "ne": operator.ne, "gt": operator.gt, "ge": operator.ge,
    "lt": operator.lt, "le": operator.le,
}
_CLAUSE = re.compile(r"^\s*([A-Za-z/]+)\s+(eq|ne|gt|ge|lt|le)\s+(.+?)\s*$", re.IGNORECASE)
_DATE_FIELDS = {"receiveddatetime", "sentdatetime", "createddatetime", "lastmodifieddatetime"}
_STRING_FIELDS = {"conversationid", "internetmessageid", "subject", "parentfolderid",
                  "from/emailaddress/address"}
_BOOL_FIELDS = {"isread", "isdraft", "hasattachments"}


@dataclass(frozen=True)
class Clause:
    field: str  # lower-case
    op: str
    value: Any


def _literal(field: str, text: str) -> Any:
    if field in _STRING_FIELDS:
        if not (text.startswith("'") and text.endswith("'")):
            raise QueryError("ErrorInvalidUrlQueryFilter", "The query filter contains one or more invalid nodes.")
        return text[1:-1].replace("''", "'")
    if field in _BOOL_FIELDS:
        if text.lower() not in ("true", "false"):
            raise QueryError("ErrorInvalidUrlQueryFilter", "The query filter contains one or more invalid nodes.")
        return text.lower() == "true"
    try:
        return parse_iso(text.strip("'"))
    except ValueError as exc:
        raise QueryError("ErrorInvalidUrlQueryFilter", "The query filter contains one or more invalid nodes.") from exc


def _split(text: str, keyword: str) -> list[str]:
    """Split on `` keyword `` outside single-quoted literals (``subject eq 'this or that'`` stays whole)."""
    parts = re.split(r"('(?:[^']|'')*')", text)  # odd items are the quoted literals
    found, current = [], ""
    for index, chunk in enumerate(parts):
        if index % 2:
            current += chunk
            continue
        pieces = re.split(rf"\s+{keyword}\s+", chunk, flags=re.IGNORECASE)
        current += pieces[0]
        for piece in pieces[1:]:
            found.append(current)
            current = piece
    return [*found, current]


def parse_filter(value: str | None) -> list[Clause]:
    if not value:
        return []
    clauses: list[Clause] = []
    for part in _split(value.strip(), "and"):
        match = _CLAUSE.match(part)
        field = match.group(1).lower() if match else ""
        if not match or field not in (_DATE_FIELDS | _STRING_FIELDS | _BOOL_FIELDS):
            raise QueryError("ErrorInvalidUrlQueryFilter", "The query filter contains one or more invalid nodes.")
        clauses.append(Clause(field, match.group(2).lower(), _literal(field, match.group(3))))
    return clauses


def parse_filter_any(value: str | None) -> list[list[Clause]]:
    """``a and b or c`` → [[a, b], [c]] (``and`` binds tighter, as in OData); [] without a filter."""
    if not value:
        return []
    return [parse_filter(part) for part in _split(value.strip(), "or")]


def matches_any(alternatives: list[list[Clause]], values: dict[str, Any]) -> bool:
    return not alternatives or any(matches(clauses, values) for clauses in alternatives)


def matches(clauses: list[Clause], values: dict[str, Any]) -> bool:
    """``values`` maps lower-case filterable property names to comparable values."""
    for clause in clauses:
        current = values.get(clause.field)
        if current is None:
            return False
        if isinstance(current, str) and isinstance(clause.value, str):
            ok = _OPS[clause.op](current.lower(), clause.value.lower()) if clause.field in (
                "subject", "from/emailaddress/address") else _OPS[clause.op](current, clause.value)
        else:
            ok = _OPS[clause.op](current, clause.value)
        if not ok:
            return False
    return True


def parse_orderby(value: str | None, alternatives: list[list[Clause]] | None = None) -> bool:
    """True for newest first (the default and ``receivedDateTime desc``).

    Beside ``$filter``, Graph requires the ordered property to be filtered on, and before any other property
    (learn.microsoft.com/graph/api/user-list-messages, "Using filter and orderby in the same query"); else a 400
    ``InefficientFilter``, "The restriction or sort order is too complex for this operation."
    """
    if not value:
        return True
    field, _, direction = value.strip().partition(" ")
    if field.lower() not in _DATE_FIELDS:
        raise QueryError("BadRequest", f"The $orderby expression '{value}' is not supported.")
    if alternatives and any(not clauses or clauses[0].field != field.lower() for clauses in alternatives):
        raise QueryError("InefficientFilter", "The restriction or sort order is too complex for this operation.")
    return direction.strip().lower() != "asc"
