"""The `sync:` settings section (`connector.config` reads it with the rest): schedules, leases, backoff, and
the pace kept against a slow provider (`connector.sync.pacing`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SyncSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    public_url: str = "http://127.0.0.1:8080"  # where Microsoft and Google reach the webhooks
    safety_net_minutes: float = Field(default=15, gt=0)  # sync every mailbox at least this often
    lease_seconds: float = Field(default=120, gt=0)  # a killed worker's mailboxes are taken over after this
    renew_before_minutes: float = Field(default=24 * 60, gt=0)  # renew subscriptions/watches this early
    resync_window_days: float = Field(default=7, gt=0)  # how far back a resync after an expired cursor reads
    parked_reply_days: float = Field(default=14, gt=0)  # how long an edited-subject reply waits for its thread
    max_resyncs_per_day: int = Field(default=3, ge=1)  # loop guard against endlessly expiring cursors
    failing_after_attempts: int = Field(default=8, ge=1)
    max_backoff_seconds: float = Field(default=900, gt=0)
    # While the provider answers at all (throttled, 5xx, slow), a mailbox is tried again at least this often.
    answering_backoff_seconds: float = Field(default=120, gt=0)
    page_size: int = Field(default=50, ge=1)  # records per page asked of a provider, after successes
    min_page_size: int = Field(default=5, ge=1)  # the smallest page a mailbox is shrunk to after timeouts
    grow_after: int = Field(default=3, ge=1)  # successful steps before a shrunk page size doubles again
    request_timeout_seconds: float = Field(default=20, gt=0)  # one request, plus per record asked for:
    timeout_per_record_seconds: float = Field(default=0.4, ge=0)
    step_deadline_seconds: float = Field(default=300, gt=0)  # a step past this commits and reads more next time
    worker_threads: int = Field(default=4, ge=1)  # mailboxes one worker process syncs at once
    idle_poll_seconds: float = Field(default=0.5, gt=0)  # idle threads look for due mailboxes this often
    probe_port: int = Field(default=0, ge=0)  # a worker process's /healthz /readyz /metrics (0: none)
