"""What the CLI prints from mail is text, never markup or terminal control: hostile subjects print as written."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from sqlmodel import select

from connector import render
from connector.models import Activity
from connector.services import access_log, tenants, views
from connector.services.capture import Capture
from connector.services.mailboxes import Health
from tests.conftest import World
from tests.mailbuilder import mail, to_dropbox

MATTER = "acme+10802@bcc.example.com"
HOSTILE = "Hello [/bold] team \x1b[2J\x1b]8;;https://evil.example\x07click\x1b]8;;\x07 \u202eevil"


def _printed(draw: Callable[[Console], None], width: int = 200) -> str:
    console = Console(record=True, width=width, force_terminal=False)
    draw(console)
    return console.export_text()


def test_a_hostile_subject_prints_as_text_in_the_log_unassigned_and_audit(world: World, capture: Capture) -> None:
    capture.process(to_dropbox(mail("Alice <alice@acme-law.com>", ["carol@clientco.com"], bcc=[MATTER],
                                    subject=HOSTILE, message_id="<h1@a>")))
    capture.process(to_dropbox(mail("Alice <alice@acme-law.com>", ["nobody@unknown.example"],
                                    bcc=["notes@bcc.example.com"], subject=HOSTILE, message_id="<h2@a>")))
    capture.process(to_dropbox(mail("Mallory <m@evil.example>", ["carol@clientco.com"], bcc=[MATTER],
                                    subject=HOSTILE, message_id="<h3@a>")))
    with world.session() as session:
        tenant = tenants.get_tenant(session, "acme")
        threads, waiting, refused = (views.communications(session, tenant), views.unassigned(session, tenant),
                                     views.audit(session, tenant, "refused"))
    for text in (_printed(lambda c: render.communications(c, "matter 10802", threads)),
                 _printed(lambda c: render.unassigned(c, waiting)),
                 _printed(lambda c: render.audit(c, refused))):
        assert "Hello [/bold] team" in text
        assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text


def test_piped_status_keeps_whole_addresses_and_errors_at_80_columns() -> None:
    """`bcc-capture status | grep …` or pasted in a ticket: nothing is cut to fit a terminal that is not there."""
    address, error = "someone.long@acme-law-firm.com", "ErrorInvalidUser: the mailbox is not an Exchange mailbox"
    row = Health(1, address, "graph", "failing", "failing", None, error, 0, None, None, 12)
    text = _printed(lambda c: render.mailboxes(c, [row]), width=80)
    assert address in text and error in text


def test_a_page_view_in_the_audit_shows_the_messages_it_showed(world: World, capture: Capture) -> None:
    for n in (1, 2):
        capture.process(to_dropbox(mail("Alice <alice@acme-law.com>", ["carol@clientco.com"], bcc=[MATTER],
                                        subject=f"Draft {n}", message_id=f"<view{n}@a>")))
    with world.session() as session:
        tenant = tenants.get_tenant(session, "acme")
        shown = [(t.id, t.internet_message_id) for t in session.exec(select(Activity))]
        access_log.viewed(session, tenant.id, "ada@acme-law.com", shown, "console")
        session.commit()
        text = _printed(lambda c: render.audit(c, views.audit(session, tenant, access_log.VIEWED)))
    assert "<view1@a>" in text and "<view2@a>" in text
