"""Outbound events for the host system: what happened (`outbox`), who wants it and how it is signed
(`signing`, Standard Webhooks), where it may go (`urls`, the SSRF guard), and the worker's delivery loop
(`delivery`). The endpoints themselves are managed through `connector.services.event_webhooks`."""
