"""Filing: the targets, people, owner and customer of a message the router has decided to keep.

The router (core.py) establishes who is acting and which dropbox addresses and thread apply; the
filer turns that into a `Decision`: address schemes → records, #references, the thread's records,
contacts found or created per the user's search pattern, case/opportunity/task actions, participants
(F11), the customer, the owner, the attachment limit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from connector.config import SearchPattern, Settings
from connector.mail.envelope import Address, Envelope
from connector.models import Record, RecordKind, User
from connector.routing import contacts, privacy, rules, threads
from connector.routing import direction as directions
from connector.routing.addresses import Action, DropboxAddress, Scheme
from connector.routing.decision import (
    Decision,
    NewRecord,
    Outcome,
    ParticipantPlan,
    Reason,
    RecordRef,
    Target,
    refused,
    unassigned,
)
from connector.routing.repository import Repository

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
    archived: list[str] = field(default_factory=list)  # "matter 10802": addressed, but archived (refused)

    def add(self, record_id: int, reason: str) -> None:
        if all(t.record.record_id != record_id for t in self.targets):
            self.targets.append(Target(RecordRef(record_id=record_id), reason))


class Filer:
    def __init__(self, repo: Repository, settings: Settings,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.repo = repo
        self.settings = settings
        self.clock = clock
        self.domains = settings.dropbox.domains

    def file(self, envelope: Envelope, tenant_id: int, acting: User, instructions: list[DropboxAddress],
             thread_id: int | None, existing: int | None) -> Decision:
        decision = self._file(envelope, tenant_id, acting, instructions, thread_id, existing)
        walled = self.repo.walled_records(acting.id) if acting.id is not None else frozenset()
        return privacy.screen(decision, self.repo.tenant(tenant_id), acting, walled)  # what is never captured

    def _file(self, envelope: Envelope, tenant_id: int, acting: User, instructions: list[DropboxAddress],
              thread_id: int | None, existing: int | None) -> Decision:
        exclusions = self.repo.exclusions(tenant_id, acting.id)
        user_addresses = set(self.repo.tenant_users_by_address(tenant_id,
                                                               [a.email for a in envelope.all_addresses]))
        view = rules.message_view(envelope, user_addresses, self.domains)
        if existing is None and not view.subject:
            return refused(envelope, Reason.MISSING_SUBJECT, tenant_id, user_id=acting.id)
        filing = self._resolve_addresses(instructions, tenant_id)
        filing.notes.extend(envelope.problems)  # what the parser could not read stays visible with the mail
        self._add_references_and_thread(filing, envelope, view, tenant_id, thread_id)
        people_addresses = self._participant_addresses(envelope, view, filing)
        people = contacts.classify(people_addresses, tenant_id, self.repo, self.domains, exclusions)
        matched, refs = self._add_contacts(filing, envelope, view, people, tenant_id, acting)
        self._add_actions(filing, envelope, view, acting)

        if existing is None and not filing.targets:
            if filing.shared or filing.create_contacts:
                reason = Reason.NO_MATCHING_CONTACT if filing.shared else Reason.NO_CONTACT_ADDRESS
                return unassigned(envelope, tenant_id, acting.id, reason, filing.notes)
            if filing.unknown and not any(i.scheme is Scheme.COMPANY for i in instructions):
                return replace(refused(envelope, filing.unknown[0], tenant_id, user_id=acting.id, notes=filing.notes),
                               detail={"archived": filing.archived} if filing.archived else {})

        customers = rules.customers_of(list(matched.values()))
        customer_id = next(iter(customers)) if len(customers) == 1 else None
        if customer_id is not None:
            filing.add(customer_id, "customer")
        owner = rules.choose_owner(view, people.users) or acting
        participants = self._participants(view, people, refs, owner, several_customers=len(customers) > 1)
        attachments, note = rules.within_limit(envelope.attachments, self.settings.attachments.max_total_bytes)
        if note:
            filing.notes.append(note)
        direction = directions.of(envelope, view, people.users.keys() | user_addresses, self.repo.tenant(tenant_id))
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
            direction=direction,
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

    def _add_references_and_thread(self, filing: _Filing, envelope: Envelope, view: rules.MessageView,
                                   tenant_id: int, thread_id: int | None) -> None:
        for kind, number in rules.reference_tags(view.subject, envelope.text):
            record = self.repo.record_by_number(tenant_id, kind, number)
            if record is not None and record.id is not None:
                filing.add(record.id, "reference")
            else:
                filing.notes.append(f"reference #{number} matches no {kind.value}")
        if thread_id is not None:
            for record_id in self.repo.thread_targets(thread_id):
                filing.add(record_id, "thread")

    def _add_contacts(self, filing: _Filing, envelope: Envelope, view: rules.MessageView, people: contacts.People,
                      tenant_id: int, acting: User) -> tuple[dict[str, Record], dict[str, RecordRef]]:
        """The contacts found (per the user's search pattern) and created; they become targets where the
        address scheme files under people (personal, action and shared addresses)."""
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
        return matched, refs

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
                if record.archived_at is not None:  # closed in the host system: its address takes no more mail
                    filing.unknown.append(Reason.ARCHIVED_RECORD)
                    filing.archived.append(f"{kind.value} {address.number}")
                    filing.notes.append(f"{address.address}: {kind.value} {address.number} is archived")
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
