"""A generated mail workload for the chaos test and the benchmarks, with the answer key.

Users of one company (half on Outlook, half on Gmail) write to clients and to each other; clients
reply. Some conversations carry a matter's dropbox address from the start, some get it added late,
most never do. The answer key says exactly which internet message ids must end up logged and how
they group into threads, independent of any code under test.

Rules of the key (the product's promise):
* a conversation is logged iff some message in it was sent by a user with a dropbox address;
* then every message of it is logged, whatever order mailboxes sync in (later replies by thread
  following, earlier ones by thread backfill), once, in one thread.
Replies only go to people who were on the message they answer, so every copy can be found from
a mailbox that saw the conversation.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

COMPANY_DOMAIN = "acme-law.com"
DROPBOX_DOMAIN = "bcc.example.com"
TENANT_SLUG = "acme"


@dataclass(frozen=True)
class Person:
    address: str
    name: str
    provider: str  # graph | gmail | external


@dataclass
class Message:
    sender: Person
    to: list[Person]
    cc: list[Person]
    bcc: list[str]
    subject: str
    message_id: str
    in_reply_to: str | None
    references: list[str]
    conversation: int
    body: str
    sent_at: datetime

    @property
    def internal(self) -> bool:
        """Sent by a user to users only: nobody outside the company on it."""
        return all(p.provider != "external" for p in (self.sender, *self.to, *self.cc))

    def raw(self) -> bytes:
        msg = EmailMessage()
        msg["From"] = f"{self.sender.name} <{self.sender.address}>"
        msg["To"] = ", ".join(f"{p.name} <{p.address}>" for p in self.to)
        if self.cc:
            msg["Cc"] = ", ".join(f"{p.name} <{p.address}>" for p in self.cc)
        if self.bcc:
            msg["Bcc"] = ", ".join(self.bcc)
        msg["Subject"] = self.subject
        msg["Date"] = format_datetime(self.sent_at)
        msg["Message-ID"] = self.message_id
        if self.in_reply_to:
            msg["In-Reply-To"] = self.in_reply_to
            msg["References"] = " ".join(self.references)
        msg.set_content(self.body)
        return msg.as_bytes()


@dataclass
class Workload:
    users: list[Person]
    clients: list[Person]
    matters: list[str]
    messages: list[Message] = field(default_factory=list)
    logged_conversations: set[int] = field(default_factory=set)

    @property
    def expected_logged(self) -> set[str]:
        return {m.message_id for m in self.messages if self._filed(m)}

    @property
    def expected_threads(self) -> dict[int, set[str]]:
        threads: dict[int, set[str]] = {}
        for m in self.messages:
            if self._filed(m):
                threads.setdefault(m.conversation, set()).add(m.message_id)
        return threads

    def _filed(self, message: Message) -> bool:
        """A message of a logged conversation, unless it went among colleagues only and was filed by thread
        following alone (the privacy default: such replies and forwards are not filed; a Bcc still files)."""
        return message.conversation in self.logged_conversations and (bool(message.bcc) or not message.internal)

    def by_provider(self, provider: str) -> list[Person]:
        return [u for u in self.users if u.provider == provider]


def generate(seed: int = 7, mailboxes: int = 50, messages: int = 10_000, logged_share: float = 1 / 3,
             late_share: float = 0.1, start: datetime = datetime(2026, 3, 2, 8, 0, tzinfo=UTC),
             providers: tuple[str, ...] = ("graph", "gmail"), noise: float = 0.0,
             hostile: float = 0.0, edited_subjects: float = 0.0) -> Workload:
    """``messages`` messages in conversations of 1–6; about ``logged_share`` of them end up logged.

    ``noise``: the chance that the next item is one-off automated mail to a user (newsletters,
    notifications) rather than a conversation — never logged; 0 keeps the workload as the chaos
    test knows it.
    ``hostile``: the chance that a conversation is followed by a stranger's unrelated mail under the
    very same subject (a conversation of its own, never logged, though Outlook gives it the same
    conversationId). ``edited_subjects``: the chance that a reply edits the subject (In-Reply-To and
    References kept: still its conversation, though Outlook and Gmail start a new thread for it).
    """
    rng = random.Random(seed)
    noise_rng = random.Random(seed + 1)  # a separate stream: noise=0 leaves the rest unchanged
    hostile_rng = random.Random(seed + 2)  # … and hostile=0 too
    users = [Person(f"user{n:03d}@{COMPANY_DOMAIN}", f"User {n:03d}", providers[n % len(providers)])
             for n in range(mailboxes)]
    clients = [Person(f"client{n:03d}@client{n % 40:02d}.example", f"Client {n:03d}", "external")
               for n in range(max(20, mailboxes * 2))]
    work = Workload(users, clients, matters=[str(10000 + n) for n in range(20)])
    clock = start
    conversation = 0
    while len(work.messages) < messages:
        conversation += 1
        if noise and noise_rng.random() < noise:
            clock += timedelta(seconds=noise_rng.randint(1, 30))
            work.messages.append(_newsletter(noise_rng, work, conversation, clock))
            continue
        length = min(rng.randint(1, 6), messages - len(work.messages))
        logged = rng.random() < logged_share
        late = logged and length >= 3 and rng.random() < late_share / max(logged_share, 1e-9)
        bcc_at = rng.randint(1, length - 1) if late else 0
        for message in _conversation(rng, work, conversation, length, bcc_at if logged else None, clock):
            if edited_subjects and message.in_reply_to and hostile_rng.random() < edited_subjects:
                message.subject = f"{message.subject} (revised)"
            work.messages.append(message)
            clock = message.sent_at
        if logged:
            work.logged_conversations.add(conversation)
        if hostile and hostile_rng.random() < hostile:
            conversation += 1
            work.messages.append(_stranger(hostile_rng, work.messages[-1], conversation))
        clock += timedelta(seconds=rng.randint(1, 30))
    return work


def _conversation(rng: random.Random, work: Workload, number: int, length: int, bcc_at: int | None,
                  clock: datetime) -> Iterator[Message]:
    """A user opens; replies alternate between the people already on it (reply or reply-all)."""
    opener = rng.choice(work.users)
    client = rng.choice(work.clients)
    # A late dropbox address opens the thread in the opener's mailbox, which must then hold every
    # earlier message: so late conversations stay between the opener and one client.
    late = bcc_at is not None and bcc_at > 0
    cc = [rng.choice([u for u in work.users if u != opener])] if not late and rng.random() < 0.3 else []
    matter = rng.choice(work.matters)
    subject = f"Matter {matter} – item {number}"
    references: list[str] = []
    people = [opener, client, *cc]
    sender, to = opener, [client]
    for index in range(length):
        user_sends = sender.provider != "external"
        bcc = [f"{TENANT_SLUG}+{matter}@{DROPBOX_DOMAIN}"] if bcc_at == index and user_sends else []
        if bcc_at == index and not user_sends:  # only a user can add the dropbox address
            sender, to = opener, [p for p in people if p != opener][:1]
            bcc = [f"{TENANT_SLUG}+{matter}@{DROPBOX_DOMAIN}"]
        clock += timedelta(seconds=rng.randint(5, 600))
        message_id = f"<c{number}.m{index}.{rng.getrandbits(32):08x}@{sender.address.split('@')[1]}>"
        recipients_cc = [p for p in cc if p not in to and p != sender] if index == 0 or rng.random() < 0.5 else []
        yield Message(sender, to, recipients_cc, bcc, subject if index == 0 else f"Re: {subject}", message_id,
                      references[-1] if references else None, list(references), number,
                      f"Message {index + 1} of conversation {number}.\n", clock)
        references.append(message_id)
        reply_from = rng.choice([p for p in people if p != sender])
        if reply_from not in to and reply_from not in recipients_cc:  # nobody answers mail they never received
            reply_from = to[0]
        to = [sender]
        sender = reply_from


def _stranger(rng: random.Random, after: Message, number: int) -> Message:
    """Someone unrelated writes to a user under the subject another conversation just used."""
    user = next(p for p in (after.sender, *after.to) if p.provider != "external")
    sender = Person(f"stranger{number % 13}@elsewhere{number % 3}.example", f"Stranger {number % 13}", "external")
    return Message(sender, [user], [], [], after.subject.removeprefix("Re: "),
                   f"<s{number}.{rng.getrandbits(32):08x}@elsewhere.example>", None, [], number,
                   "Same subject, nothing to do with it.\n", after.sent_at + timedelta(seconds=3))


def _newsletter(rng: random.Random, work: Workload, number: int, clock: datetime) -> Message:
    """Automated mail from outside to one user: the bulk of a real inbox, never logged."""
    sender = Person(f"news{number % 17}@lists{number % 5}.example", f"Newsletter {number % 17}", "external")
    return Message(sender, [rng.choice(work.users)], [], [], f"Weekly digest #{number}",
                   f"<n{number}.{rng.getrandbits(32):08x}@lists{number % 5}.example>", None, [], number,
                   f"Digest {number}: nothing to file.\n", clock)
