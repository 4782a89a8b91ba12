"""Routes, one module-level `router` per area: sign-in, my settings, mailboxes, records, unassigned mail, the
audit, administration (console pages); the JSON API; provider webhooks; health and metrics."""
