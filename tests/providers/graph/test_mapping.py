"""Graph's JSON and MIME → the envelope: a download the parser cannot read still gives a message to file."""

from __future__ import annotations

from connector.mail.envelope import Address, Direction, Envelope, Source
from providers.graph.mapping import complete_envelope


def test_unreadable_mime_files_what_graph_said_with_a_note_instead_of_blocking_the_mailbox() -> None:
    header = Envelope(source=Source.GRAPH, internet_message_id="<x@clientco.com>", subject="Re: Smith v. Jones",
                      mailbox="alice@acme-law.com", provider_message_id="AAMk1", thread_key="graph:a:c1",
                      from_=Address("carol@clientco.com", "Carol"), to=(Address("alice@acme-law.com"),),
                      direction=Direction.RECEIVED, complete=False)
    full = complete_envelope(b"\x00\x00 \r\n", header)  # not an RFC 5322 message at all
    assert full.complete and full.subject == "Re: Smith v. Jones" and full.from_ == header.from_
    assert any("MIME could not be read" in problem for problem in full.problems)
