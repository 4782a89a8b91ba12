"""users.history.list over a mailbox's history records.

Records come back in increasing id order, strictly after ``startHistoryId``. ``historyTypes``
keeps only records of those types, ``labelId`` only records whose message carries that label.
Messages inside records carry only ``id`` and ``threadId`` (plus ``labelIds`` in the
added/label-change entries), as the reference says. A start id older than the mailbox's
retained history answers 404 notFound — the adapter's cue for a full sync.
"""

from __future__ import annotations

from typing import Any

from .state import HISTORY_TYPES, HistoryRecord, Mailbox
from .wire import ApiError, invalid, not_found

_KEYS = {
    "messageAdded": "messagesAdded",
    "messageDeleted": "messagesDeleted",
    "labelAdded": "labelsAdded",
    "labelRemoved": "labelsRemoved",
}


def render(record: HistoryRecord) -> dict[str, Any]:
    ref = {"id": record.message_id, "threadId": record.thread_id}
    with_labels = {**ref, "labelIds": list(record.labels_after)}
    entry: dict[str, Any] = {"message": ref if record.kind == "messageDeleted" else with_labels}
    if record.kind in ("labelAdded", "labelRemoved"):
        entry["labelIds"] = list(record.changed)
    return {"id": str(record.id), "messages": [ref], _KEYS[record.kind]: [entry]}


def _int_param(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise invalid(f"Invalid value '{value}' for parameter {name}") from exc


def list_history(
    mailbox: Mailbox, start: str | None, types: list[str], label_id: str | None,
    max_results: str | None, page_token: str | None,
) -> dict[str, Any]:
    start_id = _int_param(start, "startHistoryId")
    if start_id is None:
        raise ApiError(400, "Missing required parameter: startHistoryId", "required",
                       extra={"location": "startHistoryId", "locationType": "parameter"})
    if start_id < mailbox.history_floor:
        raise not_found()
    for kind in types:
        if kind not in HISTORY_TYPES:
            raise invalid(f"Invalid value at 'history_types' ({kind})")
    limit = min(max(_int_param(max_results, "maxResults") or 100, 1), 500)
    after = max(start_id, _int_param(page_token, "pageToken") or 0)
    selected: list[HistoryRecord] = []
    more = False
    for record in mailbox.history:
        if record.id <= after:
            continue
        if types and record.kind not in types:
            continue
        if label_id and label_id not in record.labels_after and label_id not in record.changed:
            continue
        if len(selected) == limit:
            more = True
            break
        selected.append(record)
    response: dict[str, Any] = {}
    if selected:
        response["history"] = [render(r) for r in selected]
    if more:
        response["nextPageToken"] = str(selected[-1].id)
    response["historyId"] = str(mailbox.history_id)
    return response
