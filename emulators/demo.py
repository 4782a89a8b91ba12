"""`make demo`: a company is set up, mail flows in, and the Communications tab shows what was filed.

Runs on the embedded default (a fresh SQLite file under var/demo/) and exits. Everything goes
through the same code the product runs: the DNS check uses the real dnspython resolver against a
loopback DNS server, messages are real .eml files parsed by `connector.mail.mime`, routed by the core.
"""

from __future__ import annotations

import argparse
import importlib.resources
import shutil
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from rich.console import Console
from rich.rule import Rule
from rich.table import Table
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from connector import render
from connector.config import Settings, load_settings
from connector.db import make_engine, transaction, upgrade
from connector.mail.envelope import Envelope, Source
from connector.mail.mime import parse
from connector.models import AuditEntry, RecordKind
from connector.routing.apply import Applied
from connector.services import mailboxes, records, tenants, users, views
from connector.services.capture import Capture
from connector.services.dns_verify import DnsPythonResolver
from emulators import demo_dropbox, demo_live, demo_serve
from emulators.dns import TxtServer
from emulators.tls import exit_on_sigterm
from emulators.world import World

DEMO_DIR = Path("var/demo")
console = Console(width=120)


def sample(name: str) -> bytes:
    return importlib.resources.files("emulators.samples").joinpath(name).read_bytes()


def step(title: str) -> None:
    console.print()
    console.print(Rule(f"[bold]{title}[/]", align="left"))


def set_up_company(engine: Engine, settings: Settings) -> dict[str, str]:
    step("1. Acme Law enables email capture at three levels: company, role, user")
    with transaction(engine) as session:
        tenant = tenants.create_tenant(session, "Acme Law", "acme", domain="acme-law.com")
        txt = tenants.txt_record(tenant)
    console.print(f"  admin enters domain acme-law.com and publishes the TXT record [cyan]{txt}[/]")
    published = {"acme-law.com": ["v=spf1 include:spf.protection.outlook.com -all", txt]}
    with TxtServer(published) as dns_server, transaction(engine) as session:
        tenant = tenants.get_tenant(session, "acme")
        tenants.verify_domain(session, tenant, DnsPythonResolver([dns_server.host], dns_server.port))
        tenants.set_enabled(session, tenant, True)
        tenants.grant(session, tenants.get_role(session, tenant, "Standard User"))
    console.print("  ✓ level 1: domain verified by DNS, company enabled")
    console.print("  ✓ level 2: role 'Standard User' granted 'use email capture'")
    with transaction(engine) as session:
        tenant = tenants.get_tenant(session, "acme")
        alice = users.create_user(session, tenant, "alice@acme-law.com", "Alice Archer", timezone="Europe/London")
        bob = users.create_user(session, tenant, "bob@acme-law.com", "Bob Baker")
        for user in (alice, bob):
            users.set_capture(session, user, True)
        make = records.create_record
        make(session, tenant, "matter", number="10802", title="Smith v. Jones")
        make(session, tenant, "project", number="1001", title="Website relaunch")
        make(session, tenant, "customer", number="C-100", title="Globex")
        make(session, tenant, "customer", number="C-200", title="Initech")
        make(session, tenant, "contact", email="carol@clientco.com", name="Carol Client")
        make(session, tenant, "contact", email="hank@globex.com", name="Hank Scorpio", customer="Globex")
        make(session, tenant, "contact", email="mindy@globex.com", name="Mindy Moss", customer="Globex")
        make(session, tenant, "contact", email="peter@initech.com", name="Peter Gibbons", customer="Initech")
        make(session, tenant, "contact", email="zoe@example.dk", name="Zoë Østergaard")
        make(session, tenant, "opportunity", number="CO34322", title="Globex renewal")
        addresses = {"alice": users.dropbox_address(alice, settings),
                     "alice_task_tomorrow": users.action_addresses(alice, settings)["task-tomorrow"]}
    console.print("  ✓ level 3: Alice and Bob switched capture on for themselves")
    table = Table(title="Dropbox addresses", title_justify="left", show_header=False)
    table.add_row("matter 10802", "acme+10802@bcc.example.com")
    table.add_row("project 1001", "1001.acme@bcc.example.com")
    table.add_row("Alice, personal", addresses["alice"])
    table.add_row("Alice, task due tomorrow", addresses["alice_task_tomorrow"])
    table.add_row("shared", "notes@bcc.example.com")
    console.print(table)
    return addresses


def built_messages(addresses: dict[str, str]) -> list[tuple[str, bytes]]:
    """Messages that depend on this run's random personal address, or too big to ship as files."""
    def message(subject: str, to: str, bcc: str, body: str, mid: str) -> EmailMessage:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Bcc"], msg["Subject"] = "Alice Archer <alice@acme-law.com>", to, bcc, subject
        msg["Date"] = format_datetime(datetime(2026, 3, 12, 16, 5, tzinfo=UTC))
        msg["Message-ID"] = mid
        msg.set_content(body)
        return msg

    oversized = message("Smith v. Jones – scanned exhibits", "Carol Client <carol@clientco.com>",
                        "acme+10802@bcc.example.com", "Carol,\n\nthe scanned exhibits are attached.\n\nAlice",
                        "<exhibits-6@acme-law.com>")
    oversized.add_attachment(b"II*\0" + b"\0" * (11 * 1024 * 1024), maintype="image", subtype="tiff",
                             filename="exhibits-scan.tiff")
    personal = message("Intro: Acme Law × Zillum", "Charles S <charless@zillum.com>", addresses["alice"],
                       "Hi Charles,\n\ngreat to meet you at the conference.\n\nAlice", "<zillum-11@acme-law.com>")
    task = message("Send Hank the signed NDA", "Hank Scorpio <hank@globex.com>", addresses["alice_task_tomorrow"],
                   "Hank, NDA to follow tomorrow.\n\nAlice", "<nda-12@acme-law.com>")
    return [("An 11 MB attachment: skipped with a note, mail logged", oversized.as_bytes()),
            ("Alice's personal dropbox: a new contact is created", personal.as_bytes()),
            ("A task due tomorrow, from the task address", task.as_bytes())]


SAMPLES: list[tuple[str, str, str | None]] = [
    ("01_sent_matter_bcc.eml", "Alice Bccs matter 10802", None),
    ("02_client_reply.eml", "Carol replies, no Bcc — read from Alice's mailbox", "alice@acme-law.com"),
    ("03_forward_received_to_notes.eml", "Alice forwards Peter's mail to notes@", None),
    ("04_stranger_spoof.eml", "A stranger writes to the leaked matter address", None),
    ("05_html_only_project.eml", "Bob Bccs project 1001, HTML-only", None),
    ("07_notes_two_contacts.eml", "notes@ with two contacts of two customers", None),
    ("08_opportunity_ref.eml", "#CO34322 in the subject", None),
    ("09_notes_unassigned.eml", "notes@ with nobody known", None),
    ("10_non_ascii_matter.eml", "Non-ASCII names and subject, ISO-8859-1 body", None),
]


def ingest(engine: Engine, settings: Settings, addresses: dict[str, str]) -> None:
    step("2. Mail arrives")
    labelled: list[tuple[str, Envelope]] = []
    for name, label, mailbox in SAMPLES:
        source = Source.FILE if mailbox else Source.SMTP
        labelled.append((label, parse(sample(name), source=source, mailbox=mailbox or "")))
    for label, raw in built_messages(addresses):
        labelled.append((label, parse(raw, source=Source.SMTP)))
    results = Capture(engine, settings).process_all(e for _, e in labelled)
    table = Table(show_lines=False)
    for column in ("message", "outcome", "reason"):
        table.add_column(column)
    for (label, _), (_, applied) in zip(labelled, results, strict=True):
        table.add_row(label, _outcome(applied), applied.reason.value)
    console.print(table)


def _outcome(applied: Applied) -> str:
    colour = {"logged": "green", "unassigned": "yellow", "refused": "red"}.get(applied.outcome.value, "white")
    return f"[{colour}]{applied.outcome.value}[/]"


def show(engine: Engine) -> None:
    with transaction(engine) as session:
        tenant = tenants.get_tenant(session, "acme")
        step("3. The Communications tab of matter 10802 “Smith v. Jones”")
        matter = records.find_record(session, tenant, RecordKind.MATTER, "10802")
        render.communications(console, "matter 10802", views.communications(session, tenant, matter))
        step("4. Project 1001 — attachments become project files")
        project = records.find_record(session, tenant, RecordKind.PROJECT, "1001")
        render.communications(console, "project 1001", views.communications(session, tenant, project))
        step("5. Contacts, the opportunity, the new contact and the task")
        for email in ("peter@initech.com", "hank@globex.com", "charless@zillum.com"):
            render.communications(console, f"contact {email}",
                                  views.communications(session, tenant, records.person(session, tenant, email)))
        step("6. Unassigned e-mails")
        render.unassigned(console, views.unassigned(session, tenant))
        step("7. Refusals — why a mail was not logged")
        render.audit(console, views.audit(session, tenant, "refused"), title="Refused")


def live(engine: Engine, serve: bool, port: int | None = None) -> None:
    """Steps 9–11: the same product reading real mailboxes through the (emulated) APIs."""
    step("9. Live: Alice and Bob connect Outlook, Grace connects Gmail (consent screens, OAuth, PKCE)")
    with demo_live.live_world(engine.url.render_as_string(hide_password=False), port=port) as world:
        demo_live.connect_everyone(world, console)
        time.sleep(1.5)  # the worker subscribes (Graph validation handshake) and starts Gmail's watch
        office = world.sandbox.post_office
        sent: list[str] = []

        def send(sender: str, *args: object, **kwargs: object) -> str:
            mid, raw = demo_live.message(sender, *args, **kwargs)  # type: ignore[arg-type]
            office.send(sender.rpartition("<")[2].rstrip(">"), raw)
            return mid

        step("10. Mail flows: nobody types a dropbox address except the first sender")
        first = send("Alice Archer <alice@acme-law.com>", ["Carol Client <carol@clientco.com>"],
                     "Smith v. Jones – hearing date", "Carol,\n\nthe hearing is set for 14 April.\n\nAlice",
                     bcc=["acme+10802@bcc.example.com"])
        reply = send("Carol Client <carol@clientco.com>", ["Alice Archer <alice@acme-law.com>"],
                     "Re: Smith v. Jones – hearing date", "Thanks Alice, 14 April works for my client.\n\nCarol",
                     reply_to=first)
        forward = send("Alice Archer <alice@acme-law.com>", ["Bob Baker <bob@acme-law.com>"],
                       "FW: Re: Smith v. Jones – hearing date", "Bob, FYI: Carol confirmed the date.",
                       reply_to=reply, references=[first, reply])
        lunch = send("Carol Client <carol@clientco.com>", ["Alice Archer <alice@acme-law.com>"],
                     "Lunch on Friday?", "Unrelated to any matter.")
        design = send("Grace Green <grace@acme-law.com>", ["Hank Scorpio <hank@globex.com>"],
                      "Website relaunch – design review", "Hank,\n\nthe mock-ups are ready.\n\nGrace",
                      bcc=["1001.acme@bcc.example.com"])
        hank = send("Hank Scorpio <hank@globex.com>", ["Grace Green <grace@acme-law.com>",
                                                       "Alice Archer <alice@acme-law.com>"],
                    "Re: Website relaunch – design review", "Looks great. Alice, can you check the terms?",
                    reply_to=design)
        grace = send("Grace Green <grace@acme-law.com>", ["Hank Scorpio <hank@globex.com>"],
                     "Re: Website relaunch – design review", "Thanks Hank — we'll ship on Monday.",
                     reply_to=hank, references=[design, hank])
        sent += [first, reply, design, hank, grace]
        console.print("  Alice (Outlook) → Carol, Bcc matter 10802 · Carol replies · Alice forwards to Bob · "
                      "Carol asks about lunch (unrelated)\n  Grace (Gmail) → Hank, Bcc project 1001 · Hank replies to "
                      "Grace and Alice (Outlook) · Grace replies again")
        took = world.settle(set(sent), timeout=60)
        console.print(f"  all {len(sent)} messages with a client on them logged {took:.1f} s after sending; the lunch "
                      "mail was not" if took >= 0 else "  [red]not everything was logged within a minute[/]")
        console.print(f"  Alice's forward to Bob alone: {_refusal(engine, forward)} (mail among colleagues only is "
                      "not filed unless the company opts in)")
        step("11. What was logged, where it was seen, and what it cost")
        with transaction(engine) as session:
            tenant = tenants.get_tenant(session, "acme")
            for kind, number in ((RecordKind.MATTER, "10802"), (RecordKind.PROJECT, "1001")):
                record = records.find_record(session, tenant, kind, number)
                threads = [t for t in views.communications(session, tenant, record)
                           if any(m.internet_message_id in sent for m in t.messages)]
                render.communications(console, f"{kind.value} {number} (live)", threads)
            render.mailboxes(console, mailboxes.all_health(session))
            logged_lunch = lunch in {m.internet_message_id for t in views.communications(session, tenant)
                                     for m in t.messages}
        console.print(f"  unrelated mail logged: {'yes' if logged_lunch else 'no'}")
        _usage(world)
        if serve:
            demo_serve.serve_forever(world, console)


def _refusal(engine: Engine, message_id: str) -> str:
    """What became of a message the demo expects not to be filed: its audited reason."""
    with Session(engine) as session:
        entry = session.exec(select(AuditEntry).where(AuditEntry.internet_message_id == message_id)
                             .order_by(col(AuditEntry.id).desc())).first()
    return f"{entry.action} ({entry.reason})" if entry else "not seen yet"


def _usage(world: World) -> None:
    table = Table(title="API calls (whole live run: consent, subscriptions, polling, downloads)",
                  title_justify="left")
    for column in ("provider", "HTTP requests", "quota units", "full downloads"):
        table.add_column(column)
    graph_downloads = sum(1 for r in world.sandbox.graph.request_log() if r.path.endswith("/$value"))
    graph = world.assembly.providers["graph"].usage()
    gmail = world.assembly.providers["gmail"].usage()
    table.add_row("Microsoft Graph", str(graph.http_requests), "-", str(graph_downloads))
    table.add_row("Gmail API", str(gmail.http_requests), str(gmail.quota_units), "-")
    console.print(table)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", action="store_true",
                        help="keep the previous demo database (and with --serve the console's port)")
    parser.add_argument("--serve", action="store_true", help="keep the console, emulators and worker running")
    parser.add_argument("--no-live", action="store_true", help="skip the Outlook/Gmail part")
    args = parser.parse_args(argv)
    if not args.keep and DEMO_DIR.exists():
        shutil.rmtree(DEMO_DIR)
    exit_on_sigterm()  # a SIGTERM stops the demo as Ctrl-C does: servers stopped, the test CA removed
    settings = load_settings(database={"url": f"sqlite:///{DEMO_DIR / 'demo.db'}"})
    engine = make_engine(settings.database.url)
    upgrade(engine)
    port = demo_serve.console_port(DEMO_DIR, args.keep) if args.serve else None
    console.print(Rule("[bold magenta]bcc-capture demo[/]"))
    console.print(f"database: {engine.url.render_as_string()}")
    if args.keep and demo_serve.already_set_up(engine):
        console.print("  kept from the last run: the company and its mail are there already")
        if args.serve and port is not None:
            demo_serve.serve_kept(engine, port, console)
        return
    addresses = set_up_company(engine, settings)
    ingest(engine, settings, addresses)
    show(engine)
    demo_dropbox.front_door(engine, settings, console, step)
    if not args.no_live:
        live(engine, serve=args.serve, port=port)
    console.print()
    console.print("Explore further (Carol's timeline, from the demo's database):")
    # One unwrapped line, so it can be copied as it is, whatever the terminal's width.
    print(f"  BCC_CAPTURE_DATABASE__URL=sqlite:///{DEMO_DIR / 'demo.db'} .venv/bin/bcc-capture log --contact "
          "carol@clientco.com")


if __name__ == "__main__":
    main()
