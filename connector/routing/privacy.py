"""What is never captured: the privacy screen every filing decision passes through. Pure: no reads.

The filer decides where a message would go; `screen` then applies the company's and the acting user's
privacy policy to that decision (docs/records.md explains each rule to an administrator):

* automated mail (bounces, auto-replies, lists and bulk mail, no-reply senders) is never filed by thread
  following, and never creates a contact, not even when a user sends it to a dropbox address;
* internal-only mail — a reply or forward in a logged thread among users of the company only — is not
  filed unless the company opted in (`Tenant.file_internal_mail`);
* mail marked private: Outlook's Private or Confidential sensitivity, a Purview label the company blocks
  (`Tenant.blocked_labels`), an address or domain on the user's own "never file mail with" list;
* header-only mode (company, user, or a Purview label in `Tenant.headers_only_labels`): who, when,
  subject and filed under are kept; the body, the attachments and the raw message are not;
* an ethical wall: a user walled from a record files nothing under it or with it (it is refused as
  `walled_record`, and a user who Bcc'd it is told why: `connector/dropbox/notices.py`).

A refusal is a `refused` decision with its machine-readable reason, so `apply` audits it like any other.
"""

from __future__ import annotations

import re
from dataclasses import replace

from connector.mail.envelope import Address, Envelope
from connector.models import Tenant, User
from connector.routing import threads
from connector.routing.decision import Decision, Outcome, ParticipantPlan, Reason, refused, unassigned

_BULK_PRECEDENCE = {"bulk", "list", "junk", "auto_reply"}
_AUTOREPLY_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Auto-Reply")
_PRIVATE_SENSITIVITY = {"private", "company-confidential", "confidential"}  # RFC 2156 / Outlook MIME values
_NO_REPLY = re.compile(r"^(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|mailer-daemon|postmaster|bounces?)(?:[-+_.].*)?$")
_LABEL_FIELD = re.compile(r"MSIP_Label_([0-9a-fA-F-]{36})_(\w+)\s*=\s*([^;]*)")
HEADERS_ONLY_NOTE = "headers only: the body and attachments were not kept (privacy policy)"


def is_no_reply(address: Address) -> bool:
    """An address nobody reads: it never becomes a contact and its mail is automated."""
    return bool(_NO_REPLY.match(address.email.partition("@")[0]))


def is_automated(envelope: Envelope) -> bool:
    """Mail a machine sent: delivery reports, auto-replies, mailing lists and bulk mail, no-reply senders."""
    if envelope.header("List-Id") or envelope.header("List-Unsubscribe"):
        return True
    if (envelope.header("Precedence") or "").strip().lower() in _BULK_PRECEDENCE:
        return True
    if (envelope.header("Auto-Submitted") or "no").strip().lower() != "no":
        return True
    if any(envelope.header(name) for name in _AUTOREPLY_HEADERS):
        return True
    content_type = (envelope.header("Content-Type") or "").lower()
    if content_type.startswith("multipart/report"):  # a bounce or a read receipt (RFC 6522)
        return True
    if (envelope.header("Return-Path") or "").strip() == "<>":  # sent with a null sender: a bounce
        return True
    sender = envelope.from_ or envelope.sender
    return sender is not None and is_no_reply(sender)


def is_marked_private(envelope: Envelope) -> bool:
    """Outlook's Private/Confidential sensitivity, as it travels in the MIME (the `Sensitivity` field)."""
    return (envelope.header("Sensitivity") or "").strip().lower() in _PRIVATE_SENSITIVITY


def purview_labels(envelope: Envelope) -> set[str]:
    """The enabled Microsoft Purview labels in `msip_labels`, by name and by GUID, lower-cased."""
    fields: dict[str, dict[str, str]] = {}
    for guid, name, value in _LABEL_FIELD.findall(envelope.header("msip_labels") or ""):
        fields.setdefault(guid.lower(), {})[name.lower()] = value.strip()
    found: set[str] = set()
    for guid, values in fields.items():
        if values.get("enabled", "true").lower() == "true":
            found.add(guid)
            if values.get("name"):
                found.add(values["name"].lower())
    return found


def _matches(email: str, patterns: list[str]) -> bool:
    wanted = {p.strip().lower() for p in patterns}
    return email in wanted or f"@{email.rpartition('@')[2]}" in wanted


def walled_targets(decision: Decision, walled: frozenset[int]) -> list[int]:
    """The records behind the acting user's walls that the decision would file under or name as participants."""
    named = {t.record.record_id for t in decision.targets} | {p.record.record_id for p in decision.participants
                                                             if p.record is not None}
    return sorted(r for r in named & walled if r is not None)


def refusal(envelope: Envelope, decision: Decision, company: Tenant, user: User,
            walled: frozenset[int] = frozenset()) -> Reason | None:
    """Why this decision must not be filed at all, or None."""
    if walled and walled_targets(decision, walled):
        return Reason.WALLED
    if decision.reason is Reason.THREAD and is_automated(envelope):
        return Reason.AUTOMATED
    if is_marked_private(envelope):
        return Reason.MARKED_PRIVATE
    if purview_labels(envelope) & {label.lower() for label in company.blocked_labels}:
        return Reason.PROTECTED_LABEL
    if user.never_file and any(_matches(a.email, user.never_file) for a in envelope.all_addresses):
        return Reason.NEVER_FILE
    if decision.reason is Reason.THREAD and not company.file_internal_mail and _internal_only(decision, company):
        return Reason.INTERNAL_ONLY
    return None


def _internal_only(decision: Decision, company: Tenant) -> bool:
    """Everyone on the message is a user of the company (or at its verified domain): nobody outside to file for."""
    people = decision.participants
    domain = (company.domain or "").lower()
    return bool(people) and all(p.kind in ("owner", "user") or (domain and p.address.domain == domain)
                                for p in people)


def headers_only(envelope: Envelope, company: Tenant, user: User) -> bool:
    labels = {label.lower() for label in company.headers_only_labels}
    return company.headers_only or user.headers_only or bool(purview_labels(envelope) & labels)


def screen(decision: Decision, company: Tenant | None, user: User, walled: frozenset[int] = frozenset()) -> Decision:
    """The decision as the privacy policy allows it: refused with a reason, stripped, or unchanged.

    ``walled``: the records an ethical wall keeps ``user`` away from.
    """
    if decision.outcome not in (Outcome.LOGGED, Outcome.UNASSIGNED) or company is None:
        return decision
    envelope = decision.envelope
    if decision.existing_activity_id is None:  # another copy of a logged message was screened when first filed
        reason = refusal(envelope, decision, company, user, walled)
        if reason is Reason.WALLED:  # the records and whether the user asked (a Bcc) tell the notice what to say
            return replace(refused(envelope, reason, decision.tenant_id, user_id=user.id, notes=list(decision.notes)),
                           detail={"walled_record_ids": walled_targets(decision, walled),
                                   "asked": decision.reason is Reason.ADDRESSED})
        if reason is Reason.INTERNAL_ONLY and envelope.thread_key:
            # The colleagues' aside stays out of the file, but its provider thread is followed: a colleague may
            # add the client in a reply there (Gmail starts such a thread when the aside edits the subject, and
            # received mail in a thread nothing logged opened is not read).
            return replace(refused(envelope, reason, decision.tenant_id, user_id=user.id, notes=list(decision.notes)),
                           thread_id=decision.thread_id, thread_keys=((threads.PROVIDER, envelope.thread_key),))
        if reason is not None:
            return refused(envelope, reason, decision.tenant_id, user_id=user.id, notes=list(decision.notes))
    decision = _without_new_people(decision, everyone=is_automated(envelope))
    if headers_only(envelope, company, user):
        decision = replace(decision, envelope=envelope.with_changes(raw=None), text="", html=None, attachments=(),
                           notes=(*decision.notes, HEADERS_ONLY_NOTE))
    return decision


def _without_new_people(decision: Decision, everyone: bool) -> Decision:
    """No contact is created for a no-reply address, nor for anybody on automated mail."""
    def unwanted(email: str | None) -> bool:
        return everyone or (email is not None and is_no_reply(Address(email)))

    targets = tuple(t for t in decision.targets if not (t.record.new and t.record.new.email is not None
                                                        and unwanted(t.record.new.email)))
    participants = tuple(_as_external(p) if p.record and p.record.new and unwanted(p.record.new.email) else p
                         for p in decision.participants)
    if len(targets) == len(decision.targets) and participants == decision.participants:
        return decision
    if decision.outcome is Outcome.LOGGED and decision.existing_activity_id is None and not targets:
        assert decision.tenant_id is not None  # the filer kept it: nobody left to file it under
        return unassigned(decision.envelope, decision.tenant_id, decision.user_id, Reason.NO_CONTACT_ADDRESS,
                          list(decision.notes))
    return replace(decision, targets=targets, participants=participants)


def _as_external(plan: ParticipantPlan) -> ParticipantPlan:
    return replace(plan, kind="external", record=None)
