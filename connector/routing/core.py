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
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from connector.config import SearchPattern, Settings
from connector.envelope import MAILBOX_SOURCES, Address, Direction, Envelope
from connector.models import RecordKind, User
from connector.routing import contacts, rules, threads
from connector.routing.addresses import (
    Action,
    DropboxAddress,
    Scheme,
    is_dropbox_domain,
    parse_dropbox_address,
)
from connector.routing.decision import (
    Decision,
    NewRecord,
    Outcome,
    ParticipantPlan,
    Reason,
    RecordRef,
    Target,
)
from connector.routing.repository import Repository
from connector.routing.senders import enablement_problem, sending_user


class Want(StrEnum):
    """How much of a mailbox message the core needs (so unrelated mail is never downloaded)."""

    NOTHING = "nothing"
    HEADERS = "headers"  # ids-only: cannot decide without the headers (ask the provider, then again)
    SOURCE_ONLY = "source_only"  # already logged: headers suffice to record this copy
    FULL = "full"


_ACTION_KIND = {Action.CASE: RecordKind.CASE, Action.OPPORTUNITY: RecordKind.OPPORTUNITY}
_TASK_DUE_OFFSET = {Action.TASK: None, Action.TASK_TODAY: 0, Action.TASK_TOMORROW: 1}


@dataclass
class _Filing:
    """Targets and notes gathered while resolving a message's addresses."""

    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unknown: list[Reason] = field(default_factory=list)
    project_ids: list[int] = field(default_factory=list)
    create_contacts: bool = False  # personal and action addresses create missing people (F3, F5, F10)
    shared: bool = False  # notes@: file under matching contacts, or keep as unassigned (F4, F12)
    actions: list[Action] = field(default_factory=list)

    def add(self, record_id: int, reason: str) -> None:
        if all(t.record.record_id != record_id for t in self.targets):
            self.targets.append(Target(RecordRef(record_id=record_id), reason))


class Router:
    def __init__(self, repo: Repository, settings: Settings,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.repo = repo
        self.settings = settings
        self.clock = clock
        self.domains = settings.dropbox.domains

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
            # Received, in a thread we do not know: safe to skip. A dropbox address only counts when
            # a user of the company sent the mail (F17), so this message can only matter through its
            # thread: the sender's SENT copy (or the dropbox's own delivery) opens the thread, and the
            # cross-mailbox backfill (engine `_request_backfills` → `_backfill`: `find` + `thread`)
            # then pulls this mailbox's copies, replies received earlier included.
            return Want.NOTHING
        thread_id = self.repo.thread_for_keys(owner.tenant_id, threads.lookup_keys(envelope))
        if self._existing(owner.tenant_id, envelope, thread_id) is not None:
            return Want.SOURCE_ONLY
        if thread_id is not None or any(is_dropbox_domain(a.email, self.settings.dropbox) for a in envelope.recipients):
            return Want.FULL
        return Want.NOTHING

    def route(self, envelope: Envelope) -> Decision:
        if envelope.source in MAILBOX_SOURCES:
            return self._from_mailbox(envelope)
        return self._from_dropbox(envelope)

    # ----------------------------------------------------------------- the two ways in
    def _from_mailbox(self, envelope: Envelope) -> Decision:
        owner = self.repo.user_by_login(envelope.mailbox)
        if owner is None:
            return self._refuse(envelope, Reason.UNKNOWN_MAILBOX, None)
        tenant_id = owner.tenant_id
        problem = enablement_problem(owner, self.repo)
        if problem is not None:
            return self._refuse(envelope, problem, tenant_id, user_id=owner.id)
        dropbox = self._dropbox_addresses(envelope)
        sender: User | None = None
        instructions: list[DropboxAddress] = []
        refusal: Reason | None = None
        if dropbox:  # who sent it matters only for the dropbox addresses on it (F8, F17)
            self.repo.tenant_users_by_address(tenant_id, [a.email for a in envelope.all_addresses])  # one look-up
            sender = sending_user(envelope.from_ or envelope.sender, tenant_id, self.repo)
            instructions, refusal = self._authorized(dropbox, sender, tenant_id)
        thread_id = self.repo.thread_for_keys(tenant_id, threads.lookup_keys(envelope))
        existing = self._existing(tenant_id, envelope, thread_id)
        if not instructions and thread_id is None and existing is None:
            if refusal is not None:
                return self._refuse(envelope, refusal, tenant_id, user_id=owner.id)
            return Decision(Outcome.IGNORED, Reason.NOT_RELEVANT, envelope, tenant_id=tenant_id)
        acting = sender if (instructions and sender is not None) else owner
        return self._file(envelope, tenant_id, acting, instructions, thread_id, existing)

    def _from_dropbox(self, envelope: Envelope) -> Decision:
        dropbox = self._dropbox_addresses(envelope)
        if not dropbox:
            return self._refuse(envelope, self._unrecognized_reason(envelope), None)
        sender_address = envelope.from_ or envelope.sender
        sender = self.repo.user_by_sender_address(sender_address.email) if sender_address else None
        tenant_id = self._tenant_of(dropbox, sender)
        if tenant_id is None:
            only_shared = all(a.scheme is Scheme.SHARED for a in dropbox)
            reason = Reason.UNAUTHORIZED_SENDER if only_shared else self._unrecognized_reason(envelope)
            return self._refuse(envelope, reason, None)
        instructions, refusal = self._authorized(dropbox, sending_user(sender_address, tenant_id, self.repo),
                                                 tenant_id)
        if refusal is not None or sender is None:
            return self._refuse(envelope, refusal or Reason.UNAUTHORIZED_SENDER, tenant_id)
        thread_id = self.repo.thread_for_keys(tenant_id, threads.lookup_keys(envelope))
        existing = self._existing(tenant_id, envelope, thread_id)
        return self._file(envelope, tenant_id, sender, instructions, thread_id, existing)

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

    # ----------------------------------------------------------------- filing
    def _file(self, envelope: Envelope, tenant_id: int, acting: User, instructions: list[DropboxAddress],
              thread_id: int | None, existing: int | None) -> Decision:
        exclusions = self.repo.exclusions(tenant_id, acting.id)
        user_addresses = set(self.repo.tenant_users_by_address(tenant_id,
                                                               [a.email for a in envelope.all_addresses]))
        view = rules.message_view(envelope, user_addresses, self.domains)
        if existing is None and not view.subject:
            return self._refuse(envelope, Reason.MISSING_SUBJECT, tenant_id, user_id=acting.id)
        filing = self._resolve_addresses(instructions, tenant_id)
        for kind, number in rules.reference_tags(view.subject, envelope.text):
            record = self.repo.record_by_number(tenant_id, kind, number)
            if record is not None and record.id is not None:
                filing.add(record.id, "reference")
            else:
                filing.notes.append(f"reference #{number} matches no {kind.value}")
        if thread_id is not None:
            for record_id in self.repo.thread_targets(thread_id):
                filing.add(record_id, "thread")

        people_addresses = self._participant_addresses(envelope, view, filing)
        people = contacts.classify(people_addresses, tenant_id, self.repo, self.domains, exclusions)
        pattern = SearchPattern(acting.search_pattern or self.settings.contacts.search_pattern)
        contact_pool = [a for a in people.others if a.email not in people.excluded]
        if filing.shared:  # F4: only To/Cc (and a forwarded original's people) are contacts
            allowed = {a.email for a in view.to + view.cc}
            if view.is_forwarded_original and view.from_:
                allowed.add(view.from_.email)
            contact_pool = [a for a in contact_pool if a.email in allowed]
        matched = contacts.find_people([a.email for a in contact_pool], tenant_id, pattern, self.repo)
        refs: dict[str, RecordRef] = {e: RecordRef(record_id=r.id) for e, r in matched.items()}
        if filing.create_contacts and not contacts.is_bulk(envelope):
            create_as = acting.create_as or self.settings.contacts.create_as
            for address in contact_pool:
                if address.email not in refs:
                    new = contacts.new_person(address, pattern, create_as, owner_user_id=acting.id or 0)
                    refs[address.email] = RecordRef(new=new)
        if filing.create_contacts or filing.shared:
            for address in contact_pool:
                if address.email in refs:
                    filing.targets.append(Target(refs[address.email], "contact"))
        self._add_actions(filing, envelope, view, acting)

        if existing is None and not filing.targets:
            if filing.shared or filing.create_contacts:
                reason = Reason.NO_MATCHING_CONTACT if filing.shared else Reason.NO_CONTACT_ADDRESS
                return self._unassigned(envelope, tenant_id, acting, reason, filing.notes)
            if filing.unknown and not any(i.scheme is Scheme.COMPANY for i in instructions):
                return self._refuse(envelope, filing.unknown[0], tenant_id, user_id=acting.id,
                                    notes=filing.notes)

        customers = rules.customers_of(list(matched.values()))
        customer_id = next(iter(customers)) if len(customers) == 1 else None
        if customer_id is not None:
            filing.add(customer_id, "customer")
        owner = rules.choose_owner(view, people.users) or acting
        participants = self._participants(view, people, refs, owner, several_customers=len(customers) > 1)
        attachments, note = rules.within_limit(envelope.attachments, self.settings.attachments.max_total_bytes)
        if note:
            filing.notes.append(note)
        from_user = view.from_ is not None and view.from_.email in people.users
        return Decision(
            outcome=Outcome.LOGGED,
            reason=(Reason.DUPLICATE if existing is not None
                    else Reason.ADDRESSED if instructions else Reason.THREAD),
            envelope=envelope,
            tenant_id=tenant_id,
            user_id=acting.id,
            targets=tuple(filing.targets),
            participants=participants,
            owner_user_id=owner.id,
            customer_id=customer_id,
            thread_id=thread_id,
            thread_keys=threads.keys_to_record(envelope),
            existing_activity_id=existing,
            direction=Direction.SENT if from_user else Direction.RECEIVED,
            subject=view.subject,
            text=envelope.text,
            html=envelope.html,
            sent_at=view.sent_at,
            from_=view.from_,
            attachments=attachments,
            project_ids=tuple(filing.project_ids),
            notes=tuple(filing.notes),
            detail={"addresses": [i.address for i in instructions]},
        )

    def _resolve_addresses(self, instructions: list[DropboxAddress], tenant_id: int) -> _Filing:
        filing = _Filing()
        for address in instructions:
            if address.scheme in (Scheme.MATTER, Scheme.PROJECT):
                kind = RecordKind.MATTER if address.scheme is Scheme.MATTER else RecordKind.PROJECT
                record = self.repo.record_by_number(tenant_id, kind, address.number)
                if record is None or record.id is None:
                    filing.unknown.append(Reason.UNKNOWN_MATTER if kind is RecordKind.MATTER
                                          else Reason.UNKNOWN_PROJECT)
                    filing.notes.append(f"{address.address}: no {kind.value} {address.number}")
                    continue
                filing.add(record.id, "address")
                if kind is RecordKind.PROJECT:
                    filing.project_ids.append(record.id)
            elif address.scheme is Scheme.PERSONAL:
                filing.create_contacts = True
            elif address.scheme is Scheme.SHARED:
                filing.shared = True
            elif address.scheme is Scheme.ACTION and address.action is not None:
                filing.create_contacts = True
                filing.actions.append(address.action)
        return filing

    def _add_actions(self, filing: _Filing, envelope: Envelope, view: rules.MessageView, acting: User) -> None:
        """Create a case/opportunity unless a #reference named one (F5, F6); create tasks."""
        referenced = {t.reason for t in filing.targets}
        for action in filing.actions:
            if action in _ACTION_KIND:
                kind = _ACTION_KIND[action]
                if "reference" in referenced and self._references_kind(filing, kind):
                    continue
                new = NewRecord(kind=kind, title=view.subject, owner_user_id=acting.id,
                                origin_message_id=envelope.internet_message_id)
            else:
                new = NewRecord(kind=RecordKind.TASK, title=view.subject, owner_user_id=acting.id,
                                due_date=self._due_date(_TASK_DUE_OFFSET[action], view.sent_at, acting),
                                origin_message_id=f"{envelope.internet_message_id}#{action.value}")
            filing.targets.append(Target(RecordRef(new=new), "action"))

    def _references_kind(self, filing: _Filing, kind: RecordKind) -> bool:
        ids = [t.record.record_id for t in filing.targets if t.reason == "reference" and t.record.record_id]
        return any(r.kind == kind.value for r in self.repo.records(ids))

    def _due_date(self, offset: int | None, sent_at: datetime | None, user: User) -> date | None:
        """Today/tomorrow in the user's time zone, counted from when the mail was sent (replayable)."""
        if offset is None:
            return None
        moment = (sent_at or self.clock()).astimezone(ZoneInfo(user.timezone or "UTC"))
        return moment.date() + timedelta(days=offset)

    # ----------------------------------------------------------------- participants
    def _participant_addresses(self, envelope: Envelope, view: rules.MessageView,
                               filing: _Filing) -> list[Address]:
        found = ([view.from_] if view.from_ else []) + list(view.to + view.cc + view.bcc)
        if view.is_forwarded_original:
            found += [a for a in (envelope.from_,) if a]
        else:
            for original in envelope.forwarded:  # a forward copied to the dropbox names its original's people
                found += ([original.from_] if original.from_ else []) + list(original.to + original.cc)
        if filing.create_contacts and envelope.forwarded:  # Clevertim reads addresses in forwarded bodies
            found += contacts.addresses_in_text("\n".join(f.text for f in envelope.forwarded))
        return found

    def _participants(self, view: rules.MessageView, people: contacts.People, refs: dict[str, RecordRef],
                      owner: User, several_customers: bool) -> tuple[ParticipantPlan, ...]:
        """Users (the owner among them), contacts and leads, and external people (F11).

        When the contacts belong to several customers, every one of them is an external participant.
        """
        roles: list[tuple[Address, str]] = [(view.from_, "from")] if view.from_ else []
        roles += [(a, "to") for a in view.to] + [(a, "cc") for a in view.cc] + [(a, "bcc") for a in view.bcc]
        plans: dict[tuple[str, str], ParticipantPlan] = {}
        for address, role in roles:
            if address.domain in self.domains or (address.email, role) in plans:
                continue
            user = people.users.get(address.email)
            if user is not None:
                kind = "owner" if user.id == owner.id else "user"
                plans[(address.email, role)] = ParticipantPlan(address, role, kind, user_id=user.id)
                continue
            ref = refs.get(address.email)
            kind = "contact" if ref is not None and not several_customers else "external"
            plans[(address.email, role)] = ParticipantPlan(address, role, kind, record=ref)
        return tuple(plans.values())

    # ----------------------------------------------------------------- non-filing outcomes
    def _refuse(self, envelope: Envelope, reason: Reason, tenant_id: int | None, *, user_id: int | None = None,
                notes: list[str] | None = None) -> Decision:
        return Decision(Outcome.REFUSED, reason, envelope, tenant_id=tenant_id, user_id=user_id,
                        subject=envelope.subject, from_=envelope.from_, sent_at=envelope.sent_at,
                        notes=tuple(notes or ()))

    def _unassigned(self, envelope: Envelope, tenant_id: int, acting: User, reason: Reason,
                    notes: list[str]) -> Decision:
        return Decision(Outcome.UNASSIGNED, reason, envelope, tenant_id=tenant_id, user_id=acting.id,
                        subject=envelope.subject.strip(), text=envelope.text, html=envelope.html,
                        sent_at=envelope.sent_at, from_=envelope.from_, notes=tuple(notes))
