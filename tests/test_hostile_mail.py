"""Malformed mail on every way in: filed (with a note), refused or quarantined with a reason — never a crash,
never a stuck mailbox or spool row.

Hypothesis damages real Outlook/Gmail messages (truncation, random bytes, repeated or broken header fields,
lying charsets, broken boundaries, deep nesting) and feeds each result to the four parsing paths: a file
ingested by hand, the SMTP dropbox's spool, a Graph download and a Gmail download.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connector.config import load_settings
from connector.dropbox import spool
from connector.dropbox.server import filer
from connector.mail.envelope import Address, Direction, Envelope, Source
from connector.mail.mime import parse
from connector.models import SpooledMessage, SpoolState
from connector.routing.decision import Outcome
from connector.services.capture import Capture
from providers.gmail.mapping import full_envelope
from providers.graph.mapping import complete_envelope
from tests.conftest import World

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "eml").glob("*.eml"))
MATTER = "acme+10802@bcc.example.com"
DAMAGE = [b"\x00", b"\xff\xfe", b"\r\n\r\n", b"--", b"=?utf-8?b?", b"Content-Type: multipart/mixed; boundary=",
          b'; charset="idna"', b"Content-Transfer-Encoding: base64\r\n", b"\r\n ", b"<", b">", b"@", b";" * 80,
          b"References: " + b"<a@b> " * 200, b"Content-Type: message/rfc822\r\n\r\n" * 30]
HEADER = Envelope(source=Source.GRAPH, internet_message_id="<damaged@clientco.com>", subject="Re: Smith v. Jones",
                  mailbox="alice@acme-law.com", provider_message_id="id-1", thread_key="t-1",
                  from_=Address("carol@clientco.com"), to=(Address("alice@acme-law.com"),),
                  direction=Direction.RECEIVED, complete=False)


@st.composite
def damaged_mail(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(st.sampled_from(FIXTURES)).read_bytes())
    raw = bytearray(b"Bcc: " + MATTER.encode() + b"\r\n") + raw  # most of them reach the routing core
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(raw)))
        action = draw(st.sampled_from(["insert", "cut", "truncate", "noise"]))
        if action == "insert":
            raw[at:at] = draw(st.sampled_from(DAMAGE))
        elif action == "cut":
            del raw[at:at + draw(st.integers(1, 200))]
        elif action == "truncate":
            del raw[max(at, 1):]
        else:
            raw[at:at] = draw(st.binary(min_size=1, max_size=64))
    return bytes(raw)


FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                         HealthCheck.too_slow])


@FUZZ
@given(raw=damaged_mail())
def test_a_provider_download_always_becomes_an_envelope_to_decide_on(raw: bytes) -> None:
    for full in (complete_envelope(raw, HEADER), full_envelope(raw, HEADER.with_changes(source=Source.GMAIL))):
        assert full.complete and full.internet_message_id  # the page moves on, whatever the bytes


@FUZZ
@given(raw=damaged_mail())
def test_damaged_mail_ingested_by_hand_is_filed_refused_or_set_aside(world: World, capture: Capture,
                                                                     raw: bytes) -> None:
    try:
        envelope = parse(raw, source=Source.SMTP)
    except Exception as exc:  # the only refusal parse may give: a MimeError with its reason
        assert type(exc).__name__ == "MimeError" and str(exc)
        return
    applied = capture.process(envelope)
    assert applied.outcome in set(Outcome) and applied.reason


@FUZZ
@given(raw=damaged_mail())
def test_damaged_mail_delivered_to_the_dropbox_leaves_no_spool_row_behind(world: World, raw: bytes) -> None:
    configured = load_settings(database={"url": str(world.engine.url.render_as_string(hide_password=False))},
                               smtp={"authentication": "off"})
    row_id = spool.store(world.engine, spool.Received(raw, "mallory@evil.example", (MATTER,), "127.0.0.1", "evil"))
    filed = filer(world.engine, configured).file_all()
    assert [f.spool_id for f in filed] == [row_id]
    assert filed[0].outcome in {"logged", "unassigned", "refused", "quarantined"}
    assert filed[0].reason
    assert _spooled_state(world.engine, row_id) == SpoolState.DONE.value


def _spooled_state(engine: Engine, row_id: int) -> str:
    with Session(engine) as session:
        return session.exec(select(SpooledMessage.state).where(SpooledMessage.id == row_id)).one()
