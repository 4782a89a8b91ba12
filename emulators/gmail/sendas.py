"""users.settings.sendAs (list, get, create, delete): the addresses an account may send mail as.

developers.google.com/gmail/api/reference/rest/v1/users.settings.sendAs: a SendAs is "either the primary login
address associated with the account or a custom 'from' address" (the web interface's "Send mail as");
``verificationStatus`` and ``treatAsAlias`` apply to custom addresses only, and the primary "cannot be deleted".
``list``/``get`` accept gmail.settings.basic, gmail.readonly, gmail.modify or mail.google.com; ``create`` and
``delete`` need gmail.settings.sharing and are "only available to service account clients that have been
delegated domain-wide authority" (…/sendAs/create, …/sendAs/delete); a user's own token gets 403 "Access
restricted to service accounts that have been delegated domain-wide authority".

``create``: "If ownership verification is required for the alias, a message will be sent to the email address
and the resource's verification status will be set to pending; otherwise, the resource will be created with
verification status set to accepted" (developers.google.com/gmail/api/guides/alias_and_signature_settings: a
pending alias cannot be used until the address's owner completes the verification). Google does not list when
ownership must be proven; the emulator holds an address at the account's own Workspace domain as the
organisation's (its admin hands such addresses to users as aliases they "send and receive email from",
support.google.com/a/answer/33327), so accepted at once, and any other address, or any address of a consumer
account, as needing the owner's proof: pending. `messages.send` keeps a From naming the account or one of its
accepted aliases (`may_send_as`) and rewrites any other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .state import Mailbox
from .wire import ApiError, ApiResponse, invalid, not_found

if TYPE_CHECKING:
    from .api import Call

CONSUMER_DOMAINS = ("gmail.com", "googlemail.com")  # no Workspace organisation behind these accounts
FIELDS = ("displayName", "replyToAddress", "signature", "treatAsAlias")


def _primary(mailbox: Mailbox) -> dict[str, Any]:
    is_default = not any(alias["isDefault"] for alias in mailbox.send_as.values())
    return {"sendAsEmail": mailbox.address, "displayName": mailbox.display_name, "replyToAddress": "",
            "signature": "", "isPrimary": True, "isDefault": is_default}


def needs_verification(mailbox: Mailbox, address: str) -> bool:
    """Whether Gmail asks the address's owner to prove it before the account may send as it (see above)."""
    domain = address.rpartition("@")[2].lower()
    return mailbox.domain in CONSUMER_DOMAINS or domain != mailbox.domain


def may_send_as(mailbox: Mailbox, address: str) -> bool:
    """The account's own address, or an accepted custom "from" address of it."""
    address = address.lower()
    alias = mailbox.send_as.get(address)
    return address == mailbox.address or (alias is not None and alias["verificationStatus"] == "accepted")


def add_alias(mailbox: Mailbox, body: dict[str, Any]) -> dict[str, Any]:
    """A custom "from" address for ``mailbox`` (create's rules); the caller holds the store lock."""
    address = str(body.get("sendAsEmail") or "").strip().lower()
    if "@" not in address:
        raise invalid("Invalid sendAsEmail")
    if address == mailbox.address or address in mailbox.send_as:
        raise ApiError(409, "Requested entity already exists", "duplicate", status_name="ALREADY_EXISTS")
    if body.get("smtpMsa"):
        raise ApiError(501, "The emulator does not relay through an SMTP MSA.", "notImplemented")
    alias: dict[str, Any] = {"sendAsEmail": address, "displayName": "", "replyToAddress": "", "signature": "",
                             "isDefault": False, "treatAsAlias": False}
    alias.update({k: body[k] for k in FIELDS if k in body})
    alias["verificationStatus"] = "pending" if needs_verification(mailbox, address) else "accepted"
    if body.get("isDefault"):  # "the only legal value that clients may write to this field is true"
        for other in mailbox.send_as.values():
            other["isDefault"] = False
        alias["isDefault"] = True
    mailbox.send_as[address] = alias
    return dict(alias)


class SendAsSettings:
    """The users.settings.sendAs handlers."""

    def __init__(self, lock: Any) -> None:
        self._lock = lock  # the store's

    def list(self, call: Call) -> dict[str, Any]:
        with self._lock:
            return {"sendAs": [_primary(call.mailbox), *(dict(a) for a in call.mailbox.send_as.values())]}

    def get(self, call: Call) -> dict[str, Any]:
        address = call.args["sendAsEmail"].lower()
        with self._lock:
            if address == call.mailbox.address:
                return _primary(call.mailbox)
            alias = call.mailbox.send_as.get(address)
            if alias is None:
                raise not_found()
            return dict(alias)

    def create(self, call: Call) -> dict[str, Any]:
        _delegated_only(call)
        with self._lock:
            return add_alias(call.mailbox, call.req.json())

    def delete(self, call: Call) -> ApiResponse:
        _delegated_only(call)
        address = call.args["sendAsEmail"].lower()
        with self._lock:
            if address == call.mailbox.address:
                raise invalid("Cannot delete the primary send-as alias")
            if call.mailbox.send_as.pop(address, None) is None:
                raise not_found()
        return ApiResponse.empty()


def _delegated_only(call: Call) -> None:
    if call.principal.kind != "delegated":
        message = "Access restricted to service accounts that have been delegated domain-wide authority"
        raise ApiError(403, message, "forbidden")
