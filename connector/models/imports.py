"""Archive imports: uploaded archives waiting for or being imported by a worker (`ImportJob`), and how far each
source of an import has been filed, committed with what it filed (`ImportCheckpoint`)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

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


class ImportState(StrEnum):
    PENDING = "pending"  # uploaded, waiting for a worker
    RUNNING = "running"  # a worker holds its lease (an expired lease: another worker resumes it)
    DONE = "done"
    FAILED = "failed"  # the upload itself could not be read (a broken .zip); what it filed stays filed


class ImportJob(SQLModel, table=True):
    """An archive uploaded in the console or through the API, stored in its own folder of the spool
    (`imports.spool_dir`) and imported by a worker through the same service as `bcc-capture import`. Its
    progress is its sources' `ImportCheckpoint` rows, so it survives a worker killed mid-import."""

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    mailbox: str = ""  # read as this user's mailbox ("" = as mail sent to the dropbox)
    via: str  # console | api
    created_by: str  # the administrator's address or "API token <name>"
    filename: str  # what was uploaded, for people
    directory: str  # the spool folder holding the upload
    bytes: int = 0
    state: str = Field(default=ImportState.PENDING.value, index=True)
    total: int | None = None  # messages in the upload, counted before the import starts
    created_at: datetime = created_at()
    started_at: datetime | None = timestamp()
    finished_at: datetime | None = timestamp()
    lease_owner: str | None = None
    lease_until: datetime | None = timestamp()
    attempts: int = 0  # runs started (more than one: a worker died and another resumed)
    run_started_at: datetime | None = timestamp()  # this run: for the rate and the ETA
    run_start_messages: int = 0  # messages already done when this run started
    error: str = ""
    result: dict = json_dict()  # the summary once done: tally, unreadable messages with their reasons
