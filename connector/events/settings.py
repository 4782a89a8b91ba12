"""The `events:` settings section (outbound event webhooks; `connector.config` reads it with the rest)."""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, ConfigDict, Field, field_validator


class EventSettings(BaseModel):
    """Outbound event webhooks to the host system (docs/integration.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Networks webhook URLs may point into besides public addresses, e.g. ["10.0.0.0/8"] for a CRM on the LAN,
    # ["127.0.0.0/8"] for the demo and tests; loopback, private and link-local addresses are refused otherwise.
    allowed_networks: tuple[str, ...] = ()
    timeout_seconds: float = Field(default=10, gt=0)  # one attempt: connect, send, and the receiver's answer
    retry_first_seconds: float = Field(default=30, gt=0)  # the wait before the first retry; each next one doubles
    retry_max_seconds: float = Field(default=3600, gt=0)  # ... up to this
    give_up_after_hours: float = Field(default=24, gt=0)  # an event still undelivered this long after it happened
    poll_seconds: float = Field(default=2.0, gt=0)  # the worker's delivery loop looks for due events this often
    # Delivered and given-up deliveries, their attempts and their events are deleted this long after (the log's
    # memory); pending deliveries are never deleted.
    retention_days: float = Field(default=30, gt=0)

    @field_validator("allowed_networks")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError as exc:
                raise ValueError(f"{network!r} is not a network (write it as 10.0.0.0/8)") from exc
        return value
