"""Graph change and lifecycle notifications → wake-ups. The clientState is compared by the intake."""

from __future__ import annotations

import json
from collections.abc import Mapping

from connector.errors import WebhookRejected
from connector.ports import Notification


class GraphNotificationParser:
    def handshake(self, query: Mapping[str, str]) -> str | None:
        """Graph validates a new subscription's URL with ?validationToken=…, echoed as text/plain within 10 s."""
        return query.get("validationToken")

    def parse(self, headers: Mapping[str, str], body: bytes, url: str) -> list[Notification]:
        try:
            payload = json.loads(body or b"{}")
            items = payload["value"]
            if not isinstance(items, list) or not items:
                raise ValueError("no notifications")
            return [Notification(subscription_id=str(item["subscriptionId"]),
                                 client_state=str(item.get("clientState") or ""),
                                 lifecycle_event=str(item.get("lifecycleEvent") or ""))
                    for item in items]
        except (ValueError, KeyError, TypeError) as exc:
            raise WebhookRejected("malformed", f"not a Graph notification collection: {exc}") from exc
