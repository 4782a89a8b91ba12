"""Gmail push: `users.watch` on every change but drafts and chats, renewed by calling watch again, ended by
`users.stop`.

Mail is not only INBOX and SENT: filters archive it or file it under user labels, and "Not spam" is a
label change, so the watch names what to leave out (``labelFilterBehavior: exclude``) — drafts, whose
autosaves would push every few seconds while someone types, and chats.

Gmail publishes ``{emailAddress, historyId}`` to ``settings.gmail.topic_name`` (the topic must
let ``gmail-api-push@system.gserviceaccount.com`` publish). A watch lasts 7 days; Google asks for
a daily renewal, which `connector.sync.schedule` does ``renew_before_minutes`` ahead of expiry.
"""

from __future__ import annotations

from datetime import UTC, datetime

from connector.config import GmailSettings
from connector.errors import ConfigError, PermanentError
from connector.ports import Subscription
from providers.gmail.client import MailboxApi

UNWATCHED_LABELS = ["DRAFT", "CHAT"]


def subscription_id(address: str) -> str:
    return f"watch:{address.lower()}"  # one watch per mailbox and project: the address names it


def start(api: MailboxApi, settings: GmailSettings, address: str) -> Subscription:
    if not settings.topic_name:
        raise ConfigError("gmail.topic_name", "is not set: Gmail push is off (mail is still polled)")
    body = {"topicName": settings.topic_name, "labelIds": UNWATCHED_LABELS, "labelFilterBehavior": "exclude"}
    answer = api.execute(api.users.watch(userId="me", body=body))
    try:
        expires_at = datetime.fromtimestamp(int(answer["expiration"]) / 1000, UTC)
    except (KeyError, TypeError, ValueError) as exc:
        raise PermanentError(f"users.watch answered without an expiration: {answer}",
                             endpoint="gmail.users.watch") from exc
    return Subscription(subscription_id=subscription_id(address), expires_at=expires_at)


def stop(api: MailboxApi) -> None:
    api.execute(api.users.stop(userId="me"))
