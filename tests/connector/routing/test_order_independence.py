"""Routing the same mail any number of times, in any order with its thread siblings, gives the same rows."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.config import Settings
from connector.mail.envelope import Envelope
from connector.services.capture import Capture
from tests import inspect_db as db
from tests.conftest import FIXED_NOW, World, _empty, build_world
from tests.mailbuilder import in_mailbox, mail, to_dropbox

MATTER = "acme+10802@bcc.example.com"


def thread_copies() -> list[Envelope]:
    """A conversation as the connector meets it: copies in two mailboxes and at the dropbox."""
    start = mail("Alice <alice@acme-law.com>", ["carol@clientco.com", "bob@acme-law.com"], bcc=[MATTER],
                 subject="Draft", message_id="<o1@acme>")
    start_bob = mail("Alice <alice@acme-law.com>", ["carol@clientco.com", "bob@acme-law.com"], subject="Draft",
                     message_id="<o1@acme>")
    reply = mail("Carol <carol@clientco.com>", ["alice@acme-law.com"], cc=["bob@acme-law.com"], subject="Re: Draft",
                 message_id="<o2@client>", in_reply_to="<o1@acme>", references=["<o1@acme>"])
    reply2 = mail("Bob <bob@acme-law.com>", ["carol@clientco.com"], subject="Re: Re: Draft",
                  message_id="<o3@acme>", in_reply_to="<o2@client>", references=["<o1@acme>", "<o2@client>"])
    noise = mail("Carol <carol@clientco.com>", ["alice@acme-law.com"], subject="Lunch?", message_id="<n@client>")
    return [
        in_mailbox(start, "alice@acme-law.com"), in_mailbox(start_bob, "bob@acme-law.com"), to_dropbox(start),
        in_mailbox(reply, "alice@acme-law.com"), in_mailbox(reply, "bob@acme-law.com"),
        in_mailbox(reply2, "bob@acme-law.com"), in_mailbox(noise, "alice@acme-law.com"),
    ]


def test_any_order_and_any_repetition_gives_the_same_rows(world: World, settings: Settings) -> None:
    copies = thread_copies()
    capture = Capture(world.engine, settings, clock=lambda: FIXED_NOW)
    capture.process_all(copies)
    expected = db.snapshot(world.engine)
    assert len(expected["threads"]) == 1  # type: ignore[arg-type]
    assert "<n@client>" not in expected

    @settings_for_db
    @given(order=st.permutations(range(len(copies))), repeats=st.lists(st.integers(0, len(copies) - 1),
                                                                        max_size=4))
    def check(order: list[int], repeats: list[int]) -> None:
        _empty(world.engine)
        build_world(world.engine)
        capture.process_all([copies[i] for i in list(order) + repeats])
        assert db.snapshot(world.engine) == expected

    check()


settings_for_db = settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
