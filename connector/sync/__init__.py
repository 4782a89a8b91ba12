"""The sync engine: intake of wake-ups, per-mailbox sync steps, leases, schedules, error policy."""
