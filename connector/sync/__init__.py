"""The sync engine: intake of wake-ups, the mailbox state machine (`states`), per-mailbox steps (`engine`:
`step` reads the provider, `commit` writes in one transaction), leases, schedules, error policy."""
