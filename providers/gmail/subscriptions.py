"""Gmail push: `users.watch` on every change but drafts and chats, renewed by calling watch again, ended by
`users.stop`.

Mail is not only INBOX and SENT: filters archive it or file it under user labels, and "Not spam" is a
label change, so the watch names what to leave out (``labelFilterBehavior: exclude``) — drafts, whose
autosaves would push every few seconds while someone types, and chats.

Gmail publishes ``{emailAddress, historyId}`` to ``settings.gmail.topic_name`` (the topic must
let ``gmail-api-push@system.gserviceaccount.com`` publish, and be in the Cloud project of the OAuth client,
or of the service account, that calls watch: `require_topic_project` checks it at start-up). A watch lasts
7 days; Google asks for a daily renewal, which `connector.sync.schedule` does ``renew_before_minutes`` ahead of expiry.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from connector.config import GmailSettings
from connector.errors import ConfigError, PermanentError
from connector.ports import Subscription
from providers.gmail.client import MailboxApi

UNWATCHED_LABELS = ["DRAFT", "CHAT"]
TOPIC_NAME = re.compile(r"^projects/([^/]+)/topics/[^/]+$")


def require_topic_project(settings: GmailSettings) -> None:
    """Refuse to start with a topic Gmail would refuse every watch on: users.watch requires the topic's project to
    "exactly match your Google developer project id (the one executing this watch request)"
    (https://developers.google.com/workspace/gmail/api/reference/rest/v1/users/watch) — the OAuth client's
    project (``gmail.project_id``) for connected mailboxes, the service account's for domain-wide delegation."""
    if not settings.topic_name:
        return
    found = TOPIC_NAME.match(settings.topic_name)
    if found is None:
        raise ConfigError("gmail.topic_name", f"{settings.topic_name!r} is not projects/<project id>/topics/<topic>")
    topic_project = found.group(1)
    if settings.client_id and not settings.project_id:
        raise ConfigError("gmail.project_id", "is not set: name the Cloud project of gmail.client_id (Gmail "
                          f"publishes only to topics of that project; gmail.topic_name is in {topic_project!r})")
    callers = {"gmail.project_id": settings.project_id, "gmail.service_account_file": _key_project(settings)}
    for setting, project in callers.items():
        if project and project != topic_project:
            raise ConfigError("gmail.topic_name", f"is in project {topic_project!r}, but {setting} names project "
                              f"{project!r}: Gmail refuses a watch on a topic of another project; create the "
                              f"topic in {project!r} (and let gmail-api-push@system.gserviceaccount.com publish)")


def _key_project(settings: GmailSettings) -> str:
    """The ``project_id`` of the service account key file, or "" (no file, or unreadable: auth.py says why)."""
    if not settings.service_account_file:
        return ""
    try:
        with open(settings.service_account_file, encoding="utf-8") as key_file:
            return str(json.load(key_file).get("project_id") or "")
    except (OSError, ValueError, AttributeError):
        return ""


def subscription_id(address: str) -> str:
    return f"watch:{address.lower()}"  # one watch per mailbox and project: the address names it


def start(api: MailboxApi, settings: GmailSettings, address: str) -> Subscription:
    if not settings.topic_name:
        raise ConfigError("gmail.topic_name", "is not set: Gmail push is off (mail is still polled)")
    body = {"topicName": settings.topic_name, "labelIds": UNWATCHED_LABELS, "labelFilterBehavior": "exclude"}
    try:
        answer = api.execute(api.users.watch(userId="me", body=body))
    except PermanentError as exc:
        if exc.status == 400 and "topicName" in str(exc):  # a topic of another project, or a malformed name
            raise ConfigError("gmail.topic_name", f"Gmail refused the watch: {exc}") from exc
        raise
    try:
        expires_at = datetime.fromtimestamp(int(answer["expiration"]) / 1000, UTC)
    except (KeyError, TypeError, ValueError) as exc:
        raise PermanentError(f"users.watch answered without an expiration: {answer}",
                             endpoint="gmail.users.watch") from exc
    return Subscription(subscription_id=subscription_id(address), expires_at=expires_at)


def stop(api: MailboxApi) -> None:
    api.execute(api.users.stop(userId="me"))
