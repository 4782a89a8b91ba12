"""The dropbox's own front door in `make demo`: mail delivered to the dropbox address by SMTP.

Dana has no connected mailbox (Apple Mail on her phone). Her Bcc to the matter address goes out through her
firm's server, which signs it with DKIM and delivers the copy to the dropbox's MX: the real SMTP listener,
on a loopback port, with a loopback DNS server publishing acme-law.com's DKIM key, SPF and DMARC. A message
forged in Alice's name is quarantined with its reason (and Alice is told by mail, through a submission
server on loopback); a message that arrives both by SMTP and from Alice's own mailbox is filed once.
"""

from __future__ import annotations

import smtplib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from connector.config import OutboundSettings, Settings
from connector.db import transaction
from connector.dropbox.outbound import postman_for
from connector.dropbox.server import DropboxServer
from connector.mail.envelope import Source
from connector.mail.mime import parse
from connector.models import Activity, ActivitySource, QuarantinedMessage, SpooledMessage, Tenant
from connector.services import users
from connector.services.capture import Capture
from emulators.dkim import DnsServer, SigningKey, crlf, zone
from emulators.mailcatcher import MailCatcher

MATTER = "acme+10802@bcc.example.com"
ALICE = "Alice Archer <alice@acme-law.com>"
CAROL = "Carol Client <carol@clientco.com>"


def message(sender: str, to: str, subject: str, body: str, mid: str, bcc: str = "") -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    if bcc:
        msg["Bcc"] = bcc
    msg["Date"] = format_datetime(datetime(2026, 3, 12, 17, 30, tzinfo=UTC))
    msg["Message-ID"] = mid
    msg.set_content(body)
    return crlf(msg.as_bytes())


def _send(port: int, raw: bytes, mail_from: str, rcpt: str) -> str:
    """One SMTP transaction, as the sending server has it; the listener's last answer."""
    with smtplib.SMTP("127.0.0.1", port, local_hostname="mail.acme-law.com", timeout=10) as client:
        client.ehlo()
        client.mail(mail_from)
        code, text = client.rcpt(rcpt)
        if code != 250:
            return f"{code} {text.decode()}"
        code, text = client.data(raw)
        return f"{code} {text.decode()}"


def _settle(engine: Engine, timeout: float = 30) -> dict[int, SpooledMessage]:
    """The spool once the listener's filer has handled everything in it."""
    deadline = time.monotonic() + timeout
    while True:
        with Session(engine) as session:
            rows = {r.id: r for r in session.exec(select(SpooledMessage)).all() if r.id is not None}
        if all(r.state == "done" for r in rows.values()) or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def _add_dana(engine: Engine) -> None:
    with transaction(engine) as session:
        tenant = session.exec(select(Tenant).where(Tenant.slug == "acme")).one()
        dana = users.create_user(session, tenant, "dana@acme-law.com", "Dana Dunn")
        users.set_capture(session, dana, True)


def front_door(engine: Engine, settings: Settings, console: Console, step: Callable[[str], None]) -> None:
    step("8. The dropbox's own front door: SMTP, for users with no connected mailbox")
    key = SigningKey.make("acme-law.com")
    records = zone([key], {"acme-law.com": ["v=spf1 ip4:127.0.0.1 -all"],  # its outbound server, here on loopback
                           "_dmarc.acme-law.com": ["v=DMARC1; p=reject"],
                           "evil.example": ["v=spf1 ip4:127.0.0.1 -all"]})
    _add_dana(engine)
    with DnsServer(records) as dns, MailCatcher() as relay:
        config = settings.model_copy(update={
            "smtp": settings.smtp.model_copy(update={"port": 0, "resolver": dns.address, "dns_timeout_seconds": 2,
                                                     "filing_poll_seconds": 0.1}),
            "outbound": OutboundSettings(host=relay.host, port=relay.port, security="none")})
        with DropboxServer(engine, config, filers=1) as server:
            assert server.listener is not None
            console.print(f"  the listener is the MX of bcc.example.com (here 127.0.0.1:{server.listener.port}); "
                          f"acme-law.com publishes DKIM ({key.selector}._domainkey), SPF and DMARC p=reject "
                          f"(DNS on {dns.address})")
            answers = _deliveries(server.listener.port, key)
            spool = _settle(engine)
        _alices_copy(engine, config)
        _report(engine, console, answers, spool)
        postman = postman_for(config)
        if postman is not None and postman.flush(10) and relay.caught:
            notice = relay.caught[0]
            console.print(f"  ✉ Alice was told by mail ({notice.rcpt_tos[0]}): “{notice.message['Subject']}”")


def _deliveries(port: int, key: SigningKey) -> list[tuple[str, str]]:
    dana = key.sign(message("Dana Dunn <dana@acme-law.com>", CAROL, "Smith v. Jones – signed engagement letter",
                            "Carol,\n\nthe signed engagement letter is attached in the post.\n\nDana",
                            "<engagement-21@acme-law.com>"))
    forged = message(ALICE, CAROL, "Urgent: new bank details for the settlement",
                     "Carol,\n\nplease wire the settlement to our new account.\n\nAlice", "<forged-22@evil.example>")
    both = key.sign(message(ALICE, CAROL, "Smith v. Jones – settlement draft", "Carol,\n\nthe draft is ready.\n\nAlice",
                            "<draft-23@acme-law.com>"))
    return [
        ("a typo: acme+99999@", _send(port, dana, "dana@acme-law.com", "acme+99999@bcc.example.com")),
        ("Dana (Apple Mail, no connected mailbox) Bccs matter 10802", _send(port, dana, "dana@acme-law.com", MATTER)),
        ("forged: From Alice, sent from evil.example, no signature",
         _send(port, forged, "mallory@evil.example", MATTER)),
        ("Alice Bccs matter 10802: the copy delivered to the dropbox", _send(port, both, "alice@acme-law.com", MATTER)),
    ]


def _alices_copy(engine: Engine, settings: Settings) -> None:
    """The same message as Alice's mailbox holds it (Sent Items shows the Bcc), read as a connected mailbox is."""
    sent = message(ALICE, CAROL, "Smith v. Jones – settlement draft", "Carol,\n\nthe draft is ready.\n\nAlice",
                   "<draft-23@acme-law.com>", bcc=MATTER)
    Capture(engine, settings).process(parse(sent, source=Source.FILE, mailbox="alice@acme-law.com"))


def _report(engine: Engine, console: Console, answers: list[tuple[str, str]], spool: dict[int, SpooledMessage]) -> None:
    table = Table()
    for column in ("delivered by SMTP", "listener's answer", "outcome", "reason"):
        table.add_column(column)
    for label, answer in answers:
        queued = answer.rsplit(" ", 1)[-1]
        row = spool.get(int(queued)) if answer.startswith("250") and queued.isdigit() else None
        colour = {"logged": "green", "quarantined": "yellow"}.get(row.outcome if row else "", "red")
        table.add_row(label, answer, f"[{colour}]{row.outcome if row else 'refused at RCPT'}[/]",
                      row.reason if row else "")
    console.print(table)
    with Session(engine) as session:
        dana = session.exec(select(SpooledMessage).where(col(SpooledMessage.outcome) == "logged")
                            .order_by(col(SpooledMessage.id))).first()
        item = session.exec(select(QuarantinedMessage)).first()
        draft = session.exec(select(Activity).where(Activity.internet_message_id == "<draft-23@acme-law.com>")).one()
        sources = session.exec(select(ActivitySource).where(ActivitySource.activity_id == draft.id)).all()
    if dana is not None:
        console.print(f"  Dana's mail, filed under matter 10802 — Authentication-Results: {dana.authentication}")
    if item is not None:
        console.print(f"  quarantined for {item.from_email}: [yellow]{item.reason}[/] — {item.verdict}")
    seen = ", ".join(f"{s.source} ({s.mailbox}'s mailbox)" if s.mailbox else f"{s.source} (the dropbox)"
                     for s in sources)
    console.print(f"  the settlement draft arrived twice (the dropbox by SMTP, then Alice's mailbox): one activity "
                  f"#{draft.id}, {len(sources)} sources: {seen}")
