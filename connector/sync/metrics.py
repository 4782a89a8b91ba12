"""Prometheus metrics of the sync engine, the webhook intake and the dropbox spool.

docs/monitoring/ holds a Grafana dashboard and Prometheus alert rules built on these names
(tests/test_monitoring.py keeps them in step).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

WAKEUPS = Counter("bcc_capture_wakeups_total", "Provider notifications accepted", ["provider"])
WEBHOOKS_REJECTED = Counter("bcc_capture_webhooks_rejected_total", "Webhook calls rejected", ["provider", "reason"])
MESSAGES = Counter("bcc_capture_messages_total", "Messages seen by sync, by outcome", ["provider", "outcome"])
ERRORS = Counter("bcc_capture_sync_errors_total", "Failed sync steps by action", ["provider", "action"])
STEPS = Counter("bcc_capture_sync_steps_total", "Sync steps committed", ["provider"])
SYNC_LAG = Histogram("bcc_capture_sync_lag_seconds", "From the first pending wake-up to the committed sync",
                     ["provider"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 180, 600))
MAILBOXES = Gauge("bcc_capture_mailboxes", "Connected mailboxes by state", ["state"])
API_CALLS = Counter("bcc_capture_api_calls_total", "Provider API calls by endpoint", ["provider", "endpoint"])
QUOTA_UNITS = Counter("bcc_capture_quota_units_total", "Provider quota units spent (Gmail's per-method units)",
                      ["provider"])
SPOOL_DEPTH = Gauge("bcc_capture_spool_depth", "Dropbox messages stored and not filed yet")
