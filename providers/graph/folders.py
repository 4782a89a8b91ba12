"""Which folders of a mailbox mail really arrives in: every folder but Drafts, Deleted Items, Junk and the like.

Server-side Inbox rules file mail into user folders before any client sees it, and people move or archive
mail, so Inbox and Sent Items are not enough; delta is per folder (learn.microsoft.com/graph/delta-query-messages).
The map is read with JSON `$batch`es: one for the well-known folders' ids (v1.0 mailFolder has no
``wellKnownName``; ``GET mailFolders/{name}`` answers the folder) together with the first page of the top-level
folders, then one per level of child folders (20 listings a batch), plus one per further page of a level.
A mailbox with 300 folders in one level costs 3 requests (pages of 100); hidden folders are left out
(``includeHiddenFolders`` is not asked for).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.request_information import RequestInformation
from msgraph.generated.users.item.mail_folders.item.child_folders.child_folders_request_builder import (
    ChildFoldersRequestBuilder,
)
from msgraph.generated.users.item.mail_folders.item.mail_folder_item_request_builder import (
    MailFolderItemRequestBuilder,
)
from msgraph.generated.users.item.mail_folders.mail_folders_request_builder import MailFoldersRequestBuilder

from connector.errors import PermanentError, ProviderError, most_severe
from providers.graph.client import BATCH_LIMIT, IMMUTABLE_IDS, BatchAnswer

SENT_ITEMS, INBOX = "sentitems", "inbox"
# Never read: drafts are not mail yet, deleted and junk mail is not worth filing, the rest is not mail that
# arrived (learn.microsoft.com/graph/api/resources/mailfolder#well-known-folder-names).
SKIPPED = ("drafts", "deleteditems", "junkemail", "outbox", "conversationhistory", "syncissues",
           "recoverableitemsdeletions", "scheduled", "searchfolders", "serverfailures", "localfailures")
PAGE = 100
FIELDS = ["id", "parentFolderId", "childFolderCount"]
Batch = Callable[[Mapping[str, RequestInformation]], Awaitable[dict[str, BatchAnswer]]]


@dataclass
class FolderMap:
    well_known: dict[str, str] = field(default_factory=dict)  # inbox, sentitems, drafts … → id
    followed: list[str] = field(default_factory=list)  # ids of the folders to read, Sent Items and Inbox first
    skipped: set[str] = field(default_factory=set)  # ids never read: SKIPPED and their subfolders

    @property
    def sent(self) -> str:
        return self.well_known.get(SENT_ITEMS, SENT_ITEMS)


def _config(query: Any = None) -> RequestConfiguration:
    config: RequestConfiguration = RequestConfiguration(query_parameters=query)
    config.headers.add("Prefer", IMMUTABLE_IDS)
    return config


def _top_level() -> RequestConfiguration:
    return _config(MailFoldersRequestBuilder.MailFoldersRequestBuilderGetQueryParameters(select=FIELDS, top=PAGE))


def _children() -> RequestConfiguration:
    return _config(ChildFoldersRequestBuilder.ChildFoldersRequestBuilderGetQueryParameters(select=FIELDS, top=PAGE))


def _id_only() -> RequestConfiguration:
    return _config(MailFolderItemRequestBuilder.MailFolderItemRequestBuilderGetQueryParameters(select=["id"]))


async def discover(user: Any, batch: Batch) -> FolderMap:
    """The mailbox's folder map (``user`` is the SDK's users/{id} request builder)."""
    found = FolderMap()
    listing: dict[str, RequestInformation] = {
        f"wk:{name}": user.mail_folders.by_mail_folder_id(name).to_get_request_information(_id_only())
        for name in (SENT_ITEMS, INBOX, *SKIPPED)}
    listing["top"] = user.mail_folders.to_get_request_information(_top_level())
    folders: list[dict[str, Any]] = []
    first = True
    while listing:
        answers: dict[str, BatchAnswer] = {}
        keys = list(listing)
        for start in range(0, len(keys), BATCH_LIMIT):
            answers.update(await batch({k: listing[k] for k in keys[start:start + BATCH_LIMIT]}))
        listing = {}
        errors: list[ProviderError] = []
        for key, answer in answers.items():
            if key.startswith("wk:"):
                if answer.status == 200 and isinstance(answer.body, dict):
                    found.well_known[key[3:]] = str(answer.body.get("id"))
                elif answer.status != 404:  # a folder this mailbox does not have is simply not there
                    errors.append(answer.error("/mailFolders/{folder}"))
                continue
            if answer.status != 200 or not isinstance(answer.body, dict):
                errors.append(answer.error("/mailFolders"))
                continue
            page = list(answer.body.get("value") or [])
            folders += page
            if answer.body.get("@odata.nextLink"):
                listing[f"{key}+"] = _next(user, str(answer.body["@odata.nextLink"]))
            for folder in page:
                if int(folder.get("childFolderCount") or 0) > 0:
                    children = user.mail_folders.by_mail_folder_id(str(folder["id"])).child_folders
                    listing[f"c:{folder['id']}"] = children.to_get_request_information(_children())
        if errors:
            raise most_severe(errors)
        if first and SENT_ITEMS not in found.well_known:
            raise PermanentError("the mailbox has no Sent Items folder")
        first = False
    return _sorted(found, folders)


def _next(user: Any, link: str) -> RequestInformation:
    return user.mail_folders.with_url(link).to_get_request_information(_config())


def _sorted(found: FolderMap, folders: list[dict[str, Any]]) -> FolderMap:
    """Followed: Sent Items, Inbox, then the rest; skipped: SKIPPED folders and everything below them."""
    found.skipped = {found.well_known[name] for name in SKIPPED if name in found.well_known}
    parents = {str(f["id"]): str(f.get("parentFolderId") or "") for f in folders}
    for folder_id in parents:
        seen, walk = set(), folder_id
        while walk in parents and walk not in seen and walk not in found.skipped:
            seen.add(walk)
            walk = parents[walk]
        if walk in found.skipped:
            found.skipped.add(folder_id)
    first = [found.well_known[name] for name in (SENT_ITEMS, INBOX) if name in found.well_known]
    found.followed = first + [f for f in parents if f not in found.skipped and f not in first]
    return found
