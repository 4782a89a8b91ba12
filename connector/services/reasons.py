"""Why a mail was or was not logged, in words: the console's audit and the API's `explanation` show both."""

from __future__ import annotations

from connector.routing.decision import Reason

REASON_TEXT: dict[str, str] = {
    Reason.NO_MATCHING_CONTACT.value: "no recipient is a known contact",
    Reason.NO_CONTACT_ADDRESS.value: "the mail names no contact address",
    Reason.NOT_RELEVANT.value: "the mail is not addressed to a dropbox and not in a logged thread",
    Reason.UNKNOWN_ADDRESS.value: "the dropbox address does not exist",
    Reason.RETIRED_ADDRESS.value: "the personal address was regenerated; the old one no longer works",
    Reason.ARCHIVED_RECORD.value: "the matter or project is archived: its address takes no more mail",
    Reason.UNKNOWN_MAILBOX.value: "the mailbox is not connected",
    Reason.UNKNOWN_MATTER.value: "no matter has this number",
    Reason.UNKNOWN_PROJECT.value: "no project has this number",
    Reason.UNAUTHORIZED_SENDER.value: "the sender is not an authorized address of a user",
    Reason.TENANT_NOT_ENABLED.value: "the company has not enabled email capture",
    Reason.DOMAIN_NOT_VERIFIED.value: "the company has not verified its domain",
    Reason.NO_PERMISSION.value: "the user's role lacks the 'use email capture' permission",
    Reason.CAPTURE_DISABLED.value: "the user has switched email capture off",
    Reason.USER_INACTIVE.value: "the user is deactivated",
    Reason.MISSING_SUBJECT.value: "the mail has no subject (a subject is required)",
    Reason.NO_USER.value: "no user of the company sent or received it",
    Reason.WALLED.value: "an ethical wall keeps you from a record it would be filed under (ask your administrator)",
    "by_user": "removed from the record by a user",
}


def explain_reason(reason: str) -> str:
    """The sentence for an audit reason code; an unknown code is shown as its words."""
    return REASON_TEXT.get(reason, reason.replace("_", " "))
