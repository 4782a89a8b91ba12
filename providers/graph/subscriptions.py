"""Graph subscriptions on a mailbox's messages: create, renew (PATCH), delete."""

from __future__ import annotations

from datetime import datetime, timedelta

from msgraph import GraphServiceClient
from msgraph.generated.models.subscription import Subscription as GraphSubscription

from connector.ports import Subscription
from providers.graph.client import call

# Newer docs allow 10,080 minutes for messages (older ones 4,230); ask for a little less and
# always keep what the server returns.
LIFETIME = timedelta(minutes=10_080 - 60)


async def create(client: GraphServiceClient, address: str, url: str, now: datetime,
                 client_state: str) -> Subscription:
    body = GraphSubscription(change_type="created", notification_url=url, lifecycle_notification_url=f"{url}/lifecycle",
                             resource=f"users/{address}/messages", expiration_date_time=now + LIFETIME,
                             client_state=client_state)
    made = await call(client.subscriptions.post(body), "subscriptions")
    assert made is not None and made.id and made.expiration_date_time
    return Subscription(made.id, made.expiration_date_time, client_state)


async def renew(client: GraphServiceClient, subscription: Subscription, now: datetime) -> Subscription:
    patch = GraphSubscription(expiration_date_time=now + LIFETIME)
    made = await call(client.subscriptions.by_subscription_id(subscription.subscription_id).patch(patch),
                      "subscriptions")
    expires = made.expiration_date_time if made and made.expiration_date_time else now + LIFETIME
    return Subscription(subscription.subscription_id, expires, subscription.client_state)


async def delete(client: GraphServiceClient, subscription: Subscription) -> None:
    await call(client.subscriptions.by_subscription_id(subscription.subscription_id).delete(), "subscriptions")
