"""Archive imports: how far each source of an import has been filed, committed with what it filed."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel, UniqueConstraint

from connector.models._types import created_at, json_dict, timestamp


class ImportCheckpoint(SQLModel, table=True):
    """One source of an archive import (an mbox file, a folder of .eml/.msg files, a single file) for one
    company and mailbox. Updated in the transaction that files each batch, so an interrupted import resumes
    right after the last batch it committed and files nothing twice."""

    __table_args__ = (UniqueConstraint("tenant_id", "mailbox", "source"),)
    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    mailbox: str = ""  # the user whose mailbox the archive is read as ("" = as sent to the dropbox)
    source: str  # the absolute path
    kind: str  # mbox | folder | file
    # Where to go on: an mbox's byte offset, a folder's last file name (files are read in name order).
    position: str = ""
    messages: int = 0  # messages read so far (unreadable ones included)
    tally: dict = json_dict()  # "outcome/reason" → messages, for the summary of a resumed import
    finished_at: datetime | None = timestamp()
    updated_at: datetime = created_at()
