"""One delta cursor per followed folder, read with JSON `$batch`: a wake-up costs one request per 20 folders.

The mailbox's cursor (an opaque string the core stores in a Text column) is the JSON of `DeltaCursor`: per
folder id the whole `@odata.deltaLink` / `@odata.nextLink` to GET next, or, for a folder to (re)start, the
first URL of a new round limited to mail received since a moment. Every wake-up GETs every link, 20 a
`$batch` (the documented maximum; each item is throttled on its own), and the first batch also carries a
probe: the parent folders of the newest mail of the whole mailbox, so a folder nobody knew of (a rule's new
target) is found at once rather than at the next hourly re-mapping. In a burst the probe lists only the newest
``PROBE_SIZE`` messages, and a new folder's mail may be older than those: a cut probe re-maps the folders if the
last mapping is over ``CUT_PROBE_REMAP`` old, so such a folder waits minutes, not the hour. A folder with no
change costs only its slot. One folder's expired state (410 ``SyncStateNotFound``) restarts that folder alone,
from the last successful read; a folder gone (404) leaves the map.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.request_information import RequestInformation
from msgraph.generated.users.item.mail_folders.item.messages.delta.delta_request_builder import DeltaRequestBuilder
from msgraph.generated.users.item.messages.messages_request_builder import MessagesRequestBuilder

from connector.errors import CursorExpired, ProviderError, TransientError, most_severe
from connector.mail.envelope import Envelope
from connector.ports import ChangePage
from providers.graph import mapping
from providers.graph.client import BATCH_LIMIT, IMMUTABLE_IDS, BatchAnswer
from providers.graph.folders import SENT_ITEMS, FolderMap

PAGE_SIZE = 50
REMAP_EVERY = timedelta(hours=1)  # the folder map is read again at least this often
MARGIN = timedelta(minutes=5)  # a (re)started folder reads mail from this much before the moment it names
PROBE_SIZE = 100  # parent folder ids only: a few kilobytes
CUT_PROBE_REMAP = timedelta(minutes=5)
Batch = Callable[[Mapping[str, RequestInformation]], Awaitable[dict[str, BatchAnswer]]]
ENDPOINT = "/mailFolders/{folder}/messages/delta"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class DeltaCursor:
    links: dict[str, str] = field(default_factory=dict)  # folder id → the URL to GET next
    sent: str = SENT_ITEMS  # the Sent Items folder's id
    skipped: list[str] = field(default_factory=list)  # ids never read (and so never worth a re-mapping)
    mapped_at: str = ""  # ISO time of the last folder map ("" = map at the next read)
    read_at: str = ""  # ISO time of the last complete read

    def dumps(self) -> str:
        return json.dumps({"v": 2, **asdict(self)}, separators=(",", ":"))

    @classmethod
    def loads(cls, text: str) -> DeltaCursor:
        data = json.loads(text)
        if data.get("v") != 2:  # the first format: {"sentitems": link, "inbox": link}, re-mapped at once
            return cls(links={k: v for k, v in data.items() if isinstance(v, str)})
        data.pop("v")
        return cls(**data)

    def due(self, now: datetime, every: timedelta = REMAP_EVERY) -> bool:
        return not self.mapped_at or datetime.fromisoformat(self.mapped_at) + every <= now

    def remap(self, found: FolderMap, now: datetime, start: Callable[[str, datetime], str]) -> None:
        """Follow ``found``: links under a well-known name take the folder's id, new folders start a round
        from the last mapping (their mail arrived since), folders gone are dropped."""
        for name, folder_id in found.well_known.items():
            if name in self.links and folder_id not in self.links:
                self.links[folder_id] = self.links.pop(name)
        since = datetime.fromisoformat(self.mapped_at) - MARGIN if self.mapped_at else now - MARGIN
        self.links = {f: self.links.get(f) or start(f, since) for f in found.followed}
        self.sent, self.skipped, self.mapped_at = found.sent, sorted(found.skipped), now.isoformat()

    def known(self, folder_id: str) -> bool:
        return folder_id in self.links or folder_id in self.skipped


def initial_url(user: Any, folder_id: str, since: datetime) -> str:
    """The first request of a delta round over ``folder_id``'s mail received since ``since``."""
    query = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
        select=mapping.SELECT, expand=mapping.EXPAND, filter=f"receivedDateTime ge {_iso(since)}")
    builder = user.mail_folders.by_mail_folder_id(folder_id).messages.delta
    return str(builder.to_get_request_information(RequestConfiguration(query_parameters=query)).url)


def _get(user: Any, link: str, page_size: int) -> RequestInformation:
    config: RequestConfiguration = RequestConfiguration()
    config.headers.add("Prefer", IMMUTABLE_IDS)
    config.headers.add("Prefer", f"odata.maxpagesize={page_size}")
    return user.mail_folders.by_mail_folder_id("x").messages.delta.with_url(link).to_get_request_information(config)


def _probe(user: Any, since: datetime) -> RequestInformation:
    # Newest first, said rather than assumed; the ordered property is the filtered one, as Graph requires of
    # $orderby beside $filter (learn.microsoft.com/graph/api/user-list-messages, "Using filter and orderby").
    query = MessagesRequestBuilder.MessagesRequestBuilderGetQueryParameters(
        select=["parentFolderId"], filter=f"receivedDateTime ge {_iso(since)}", orderby=["receivedDateTime desc"],
        top=PROBE_SIZE)
    config: RequestConfiguration = RequestConfiguration(query_parameters=query)
    config.headers.add("Prefer", IMMUTABLE_IDS)
    return user.messages.to_get_request_information(config)


@dataclass
class Round:
    """What one read of every link found."""

    envelopes: list[Envelope] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    more: bool = False
    unknown_folders: bool = False  # the probe saw mail in a folder the map does not have
    probe_cut: bool = False  # more mail arrived than the probe lists: an unknown folder may hide behind it
    expired: list[ProviderError] = field(default_factory=list)  # folders whose delta state had expired


async def read_all(user: Any, batch: Batch, cursor: DeltaCursor, mailbox: str, now: datetime,
                   page_size: int = PAGE_SIZE) -> Round:
    """GET every folder's link once (20 a `$batch`, the probe in the first) and move the links on."""
    found = Round()
    folders = list(cursor.links)
    errors: list[ProviderError] = []
    since = datetime.fromisoformat(cursor.read_at) - MARGIN if cursor.read_at else now - MARGIN
    for start in range(0, max(len(folders), 1), BATCH_LIMIT):
        chunk = folders[start:start + BATCH_LIMIT]
        requests = {str(n): _get(user, cursor.links[f], page_size) for n, f in enumerate(chunk, start)}
        if start + BATCH_LIMIT >= len(folders) and len(chunk) < BATCH_LIMIT:
            requests["probe"] = _probe(user, since)  # in the last batch's free slot: no request of its own
        answers = await batch(requests)
        for n, folder in enumerate(chunk, start):
            answer = answers.get(str(n))
            if answer is None:
                errors.append(TransientError(f"$batch left folder {folder} unanswered", endpoint=ENDPOINT))
            else:
                _take(answer, folder, cursor, found, errors, mailbox, lambda f: initial_url(user, f, since))
        probe = answers.get("probe")
        if probe is not None and probe.status == 200 and isinstance(probe.body, dict):
            parents = {str(m.get("parentFolderId") or "") for m in probe.body.get("value") or []}
            found.unknown_folders = any(p and not cursor.known(p) for p in parents)
            found.probe_cut = bool(probe.body.get("@odata.nextLink"))
    if found.expired and len(found.expired) == len(folders):
        raise found.expired[0]  # the whole mailbox's state is gone: the engine's bounded resync
    if errors:
        raise most_severe(errors)
    cursor.read_at = now.isoformat()
    return found


def _take(answer: BatchAnswer, folder: str, cursor: DeltaCursor, found: Round, errors: list[ProviderError],
          mailbox: str, restart: Callable[[str], str]) -> None:
    if answer.status == 200 and isinstance(answer.body, dict):
        for message in answer.body.get("value") or []:
            if not isinstance(message, dict):
                continue
            if mapping.is_removed(message):
                found.removed.append(str(message.get("id") or ""))
                continue
            envelope = mapping.header_envelope(message, mailbox, sent=_authored(message, folder, cursor))
            if envelope is not None:
                found.envelopes.append(envelope)
        if answer.body.get("@odata.nextLink"):
            cursor.links[folder], found.more = str(answer.body["@odata.nextLink"]), True
        elif answer.body.get("@odata.deltaLink"):
            cursor.links[folder] = str(answer.body["@odata.deltaLink"])
        return
    error = answer.error(ENDPOINT)
    if isinstance(error, CursorExpired):  # 410 SyncStateNotFound: this folder alone starts again
        cursor.links[folder], found.more = restart(folder), True
        found.expired.append(error)
    elif answer.status == 404 and answer.code == "ErrorItemNotFound":
        del cursor.links[folder]  # the folder was deleted: the map forgets it
        cursor.mapped_at = ""
    else:
        errors.append(error)


def _authored(message: mapping.Item, folder: str, cursor: DeltaCursor) -> bool:
    """Sent by the mailbox's owner: in Sent Items, or elsewhere without internet headers.

    Only a copy delivered by transport has internetMessageHeaders; the copy Outlook saves of mail the owner sent
    has none (microsoftgraph/microsoft-graph-docs#2716) and keeps none when she files it in another folder.
    """
    return folder == cursor.sent or not (message.get("internetMessageHeaders") or message.get("isDraft"))


def change_page(found: Round, cursor: DeltaCursor) -> ChangePage:
    return ChangePage(found.envelopes, cursor.dumps(), more=found.more, removed=found.removed)

