"""route(envelope) → Decision. Pure: it reads through the repository and writes nothing.

The order never changes: find the dropbox addresses → establish the tenant and the user acting →
authorize the sender and check enablement → find the thread → resolve targets (address schemes,
#references, thread, contacts) → identify participants → owner and customer → Decision.

Two ways in:
* the dropbox itself (SMTP, `ingest`): the From address must be an authorized address of a user,
  since anybody can write to a dropbox address;
* a connected mailbox (Graph, Gmail): the mailbox owner is authenticated, so received mail in a
  logged thread is filed too, but a dropbox address only counts when a user of the company sent it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum

from connector.config import Settings
from connector.mail.envelope import MAILBOX_SOURCES, Direction, Envelope
from connector.models import User
from connector.routing import threads
from connector.routing.addresses import (
    DropboxAddress,
    Scheme,
    is_dropbox_domain,
    parse_dropbox_address,
)
from connector.routing.decision import Decision, Outcome, Reason, refused
from connector.routing.filing import Filer
from connector.routing.repository import Repository
from connector.routing.senders import enablement_problem, sending_user


class Want(StrEnum):
    """How much of a mailbox message the core needs (so unrelated mail is never downloaded)."""

    NOTHING = "nothing"
    HEADERS = "headers"  # ids-only: cannot decide without the headers (ask the provider, then again)
    ANOTHER_COPY = "another_copy"  # already logged: its headers suffice to record this copy as a source
    REFUSE = "refuse"  # its headers already refuse it (privacy): the refusal is recorded, nothing downloaded
    FULL = "full"


# Refusals the headers decide on their own: a full download can only add to what they saw (more headers,
# the same people), never turn them into filing.
HEADER_REFUSALS = frozenset({Reason.WALLED, Reason.AUTOMATED, Reason.MARKED_PRIVATE, Reason.PROTECTED_LABEL,
                             Reason.NEVER_FILE, Reason.INTERNAL_ONLY})


class Router:
    def __init__(self, repo: Repository, settings: Settings,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.repo = repo
        self.settings = settings
        self.clock = clock
        self.domains = settings.dropbox.domains
        self.filer = Filer(repo, settings, clock)

    # ----------------------------------------------------------------- entry points
    def wants(self, envelope: Envelope) -> Want:
        """For a header-only mailbox message: skip it, record a source, or fetch it in full.

        For an ids-only one: fetch it in full, read its headers first, or skip it.
        """
        owner = self.repo.user_by_login(envelope.mailbox)
        if owner is None:
            return Want.NOTHING
        if envelope.ids_only:
            if self.repo.thread_for_keys(owner.tenant_id, [envelope.thread_key]) is not None:
                return Want.FULL  # logged or recorded as another copy: a header read costs as much as the download
            if envelope.direction is Direction.SENT:
                return Want.HEADERS  # the user's Bcc to a dropbox is visible only on the sent copy
            # Received, in a thread we do not know. A dropbox address only counts when a user of the
            # company sent the mail (F17), so this message can only matter through its thread: the
            # sender's SENT copy (or the dropbox's own delivery) opens the thread, and the cross-mailbox
            # backfill (`sync.commit.request_copies` → `sync.step.Reader.backlog`: `find` + `thread`)
            # then pulls this mailbox's copies, replies received earlier included. Only a message that
            # opened its provider thread may be a reply to a logged message under an edited subject:
            # its In-Reply-To/References decide, so its headers are read.
            return Want.HEADERS if envelope.opens_thread else Want.NOTHING
        thread_id = self.repo.thread_for_keys(owner.tenant_id, threads.lookup_keys(envelope))
        if self._existing(owner.tenant_id, envelope, thread_id) is not None:
            return Want.ANOTHER_COPY
        if thread_id is not None or any(is_dropbox_domain(a.email, self.settings.dropbox) for a in envelope.recipients):
            decision = self.route(envelope)  # on the headers: a privacy refusal needs no download
            refusing = decision.outcome is Outcome.REFUSED and decision.reason in HEADER_REFUSALS
            return Want.REFUSE if refusing else Want.FULL
        return Want.NOTHING

    def route(self, envelope: Envelope) -> Decision:
        if envelope.source in MAILBOX_SOURCES:
            return self._from_mailbox(envelope)
        return self._from_dropbox(envelope)

    # ----------------------------------------------------------------- the two ways in
    def _from_mailbox(self, envelope: Envelope) -> Decision:
        owner = self.repo.user_by_login(envelope.mailbox)
        if owner is None:
            return refused(envelope, Reason.UNKNOWN_MAILBOX, None)
        tenant_id = owner.tenant_id
        problem = enablement_problem(owner, self.repo)
        if problem is not None:
            return refused(envelope, problem, tenant_id, user_id=owner.id)
        dropbox = self._dropbox_addresses(envelope)
        sender: User | None = None
        instructions: list[DropboxAddress] = []
        refusal: Reason | None = None
        if dropbox:  # who sent it matters only for the dropbox addresses on it (F8, F17)
            self.repo.tenant_users_by_address(tenant_id, [a.email for a in envelope.all_addresses])  # one look-up
            sender = sending_user(envelope.from_ or envelope.sender, tenant_id, self.repo)
            if sender is None and envelope.direction is Direction.SENT:
                # Read from the owner's own sent folder, so the owner sent it, though its From may name
                # another mailbox she may send as (an Outlook shared mailbox, a Gmail "send mail as").
                sender = owner
            instructions, refusal = self._authorized(dropbox, sender, tenant_id)
        thread_id = self.repo.thread_for_keys(tenant_id, threads.lookup_keys(envelope))
        existing = self._existing(tenant_id, envelope, thread_id)
        if existing is None and _claims_owner(envelope, owner):
            return refused(envelope, Reason.FORGED_SENDER, tenant_id, user_id=owner.id)
        if not instructions and thread_id is None and existing is None:
            if refusal is not None:
                return refused(envelope, refusal, tenant_id, user_id=owner.id)
            return Decision(Outcome.IGNORED, Reason.NOT_RELEVANT, envelope, tenant_id=tenant_id)
        acting = sender if (instructions and sender is not None) else owner
        return self.filer.file(envelope, tenant_id, acting, instructions, thread_id, existing)

    def _from_dropbox(self, envelope: Envelope) -> Decision:
        dropbox = self._dropbox_addresses(envelope)
        if not dropbox:
            return refused(envelope, self._unrecognized_reason(envelope), None)
        sender_address = envelope.from_ or envelope.sender
        sender = self.repo.user_by_sender_address(sender_address.email) if sender_address else None
        tenant_id = self._tenant_of(dropbox, sender)
        if tenant_id is None:
            only_shared = all(a.scheme is Scheme.SHARED for a in dropbox)
            reason = Reason.UNAUTHORIZED_SENDER if only_shared else self._unrecognized_reason(envelope)
            return refused(envelope, reason, None)
        instructions, refusal = self._authorized(dropbox, sending_user(sender_address, tenant_id, self.repo),
                                                 tenant_id)
        if refusal is not None or sender is None:
            return refused(envelope, refusal or Reason.UNAUTHORIZED_SENDER, tenant_id)
        thread_id = self.repo.thread_for_keys(tenant_id, threads.lookup_keys(envelope))
        existing = self._existing(tenant_id, envelope, thread_id)
        return self.filer.file(envelope, tenant_id, sender, instructions, thread_id, existing)

    def _existing(self, tenant_id: int, envelope: Envelope, thread_id: int | None) -> int | None:
        """The activity already logged for this message. A logged message's own Message-ID is one
        of its thread's keys (apply records it), so without a thread there is none to look for."""
        return None if thread_id is None else self.repo.activity_id(tenant_id, envelope.internet_message_id)

    # ----------------------------------------------------------------- addresses and authorization
    def _dropbox_addresses(self, envelope: Envelope) -> list[DropboxAddress]:
        found: dict[str, DropboxAddress] = {}
        for address in envelope.recipients:
            parsed = parse_dropbox_address(address.email, self.settings.dropbox)
            if parsed is not None:
                found.setdefault(parsed.address, parsed)
        return list(found.values())

    def _unrecognized_reason(self, envelope: Envelope) -> Reason:
        for address in envelope.recipients:
            local = address.email.partition("@")[0]
            token = local.rpartition("-")[2]
            if is_dropbox_domain(address.email, self.settings.dropbox) and self.repo.is_retired_token(token):
                return Reason.RETIRED_ADDRESS
        return Reason.UNKNOWN_ADDRESS

    def _tenant_of(self, dropbox: list[DropboxAddress], sender: User | None) -> int | None:
        for address in dropbox:
            if address.scheme in (Scheme.MATTER, Scheme.PROJECT, Scheme.COMPANY):
                tenant = self.repo.tenant_by_slug(address.slug)
                if tenant is not None:
                    return tenant.id
            elif address.scheme in (Scheme.PERSONAL, Scheme.ACTION):
                owner = self.repo.user_by_token(address.token)
                if owner is not None:
                    return owner.tenant_id
            elif address.scheme is Scheme.SHARED and sender is not None:
                return sender.tenant_id
        return None

    def _authorized(self, dropbox: list[DropboxAddress], sender: User | None,
                    tenant_id: int) -> tuple[list[DropboxAddress], Reason | None]:
        """The addresses ``sender`` may use, or the reason none can be used (F7, F8, F17)."""
        if sender is None:
            return [], Reason.UNAUTHORIZED_SENDER
        problem = enablement_problem(sender, self.repo)
        if problem is not None:
            return [], problem
        usable: list[DropboxAddress] = []
        refusal = Reason.UNKNOWN_ADDRESS
        for address in dropbox:
            if address.scheme in (Scheme.PERSONAL, Scheme.ACTION):
                owner = self.repo.user_by_token(address.token)
                if owner is None:
                    refusal = (Reason.RETIRED_ADDRESS if self.repo.is_retired_token(address.token)
                               else Reason.UNKNOWN_ADDRESS)
                    continue
                if owner.id != sender.id:
                    refusal = Reason.UNAUTHORIZED_SENDER  # somebody else's personal address
                    continue
            elif address.scheme in (Scheme.MATTER, Scheme.PROJECT, Scheme.COMPANY):
                tenant = self.repo.tenant_by_slug(address.slug)
                if tenant is None or tenant.id != tenant_id:
                    continue
            usable.append(address)
        return usable, (None if usable else refusal)


def _claims_owner(envelope: Envelope, owner: User) -> bool:
    """A copy the provider filed as received (not Graph Sent Items, no Gmail SENT label) whose From names
    the mailbox's own user: a stranger wrote that From. The owner's own copies of a logged message (mail
    to oneself) are another source of it, not a new message; mail whose folder is unknown (`ingest
    --mailbox` of a user's own files) keeps trusting its From."""
    claimed = envelope.from_ or envelope.sender
    return (envelope.direction is Direction.RECEIVED and claimed is not None
            and claimed.email == (owner.email or "").lower())
