"""connector.mail.mime: real Outlook/Gmail messages (and broken ones) read into envelopes."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import Message
from email.parser import BytesParser
from email.policy import Policy
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from connector.errors import MimeError
from connector.mail import fields, mime
from connector.mail.envelope import Address, Direction, Envelope, Source
from connector.mail.forwards import find_inline_forwards, parse_addresses, parse_date
from connector.mail.html_text import html_to_text
from connector.mail.mime import parse
from tests.mailbuilder import mail

FIXTURES = Path(__file__).parents[2] / "fixtures" / "eml"
SAMPLES = resources.files("emulators.samples")
MATTER = "acme+10802@bcc.example.com"
NOTES = "notes@bcc.example.com"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture(name: str) -> Envelope:
    return parse(fixture_bytes(name))


def sample(name: str) -> Envelope:
    return parse(SAMPLES.joinpath(name).read_bytes(), source=Source.FILE, mailbox="alice@acme-law.com")


def emails(addresses: Iterable[Address]) -> list[str]:
    return [a.email for a in addresses]


def people(addresses: Iterable[Address]) -> list[tuple[str, str]]:
    return [(a.name, a.email) for a in addresses]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- Outlook sent copy ---------------------------------------------------------------------------


def test_outlook_sent_copy_keeps_bcc_recipients() -> None:
    env = fixture("outlook_sent_with_bcc.eml")
    assert people(env.to) == [("Carol Client", "carol@clientco.com"), ("Baker, Bob", "bob@acme-law.com")]
    assert people(env.bcc) == [("", MATTER)]  # Outlook's '"x@y" <x@y>' carries no real name
    assert env.from_ == Address("alice@acme-law.com", "Alice Archer")


def test_encoded_names_and_subjects_are_decoded() -> None:
    outlook = fixture("outlook_sent_with_bcc.eml")
    assert people(outlook.cc) == [("Renée François", "renee@clientco.com")]  # =?iso-8859-1?Q?
    assert outlook.subject == "Smith v. Jones – disclosure schedule"  # =?utf-8?Q?
    gmail = fixture("gmail_reply_with_references.eml")
    assert people(gmail.cc) == [("Zoë Østergaard", "zoe@example.dk"), ("", "bob@acme-law.com")]  # ?B?


def test_alternative_mail_stores_the_plain_part_as_text_and_keeps_the_html() -> None:
    env = fixture("outlook_sent_with_bcc.eml")
    assert env.text.splitlines()[:3] == [
        "Hi Carol,",
        "",
        "Please find below the revised disclosure schedule for Smith v. Jones. "
        "Bob will send the exhibits separately.",
    ]
    assert "<" not in env.text
    assert env.html is not None and '<p class="MsoNormal">Hi Carol,<o:p></o:p></p>' in env.html


def test_outlook_signature_logo_is_an_inline_attachment() -> None:
    [logo] = fixture("outlook_sent_with_bcc.eml").attachments
    assert (logo.name, logo.content_type, logo.is_inline) == ("image001.png", "image/png", True)
    assert logo.read()[:8] == b"\x89PNG\r\n\x1a\n"
    assert logo.size == len(logo.read()) == 68


def test_every_header_is_kept_in_order_with_decoded_values() -> None:
    env = fixture("outlook_sent_with_bcc.eml")
    assert [name for name, _ in env.headers][:7] == ["Received", "From", "To", "CC", "BCC", "Subject", "Thread-Topic"]
    assert env.header("thread-topic") == "Smith v. Jones – disclosure schedule"
    assert env.header("X-MS-Has-Attach") == "yes"
    assert env.header("X-MS-TNEF-Correlator") == ""
    assert env.header("Content-Language") == "en-US"


def test_message_id_domain_is_normalised_but_the_local_part_is_not() -> None:
    env = fixture("outlook_sent_with_bcc.eml")
    assert env.internet_message_id == (
        "<DM6PR11MB41079F4C2E1B5D3A8C7E6F21D4E52@dm6pr11mb4107.namprd11.prod.outlook.com>"
    )


# --- Gmail reply ---------------------------------------------------------------------------------


def test_reply_is_threaded_by_in_reply_to_and_folded_references() -> None:
    env = fixture("gmail_reply_with_references.eml")
    assert env.in_reply_to == ("<DM6PR11MB4107B81D2E@dm6pr11mb4107.namprd11.prod.outlook.com>",)
    assert env.references == (
        "<DM6PR11MB41079F4C2E1B5D3A8C7E6F21D4E52@dm6pr11mb4107.namprd11.prod.outlook.com>",
        "<CAJx9Lk2q7VbR3mZt0pWd5sNf8yQe1uHc4aG2z_rT6oP3bEXAMPLE@mail.gmail.com>",
        "<DM6PR11MB4107B81D2E@dm6pr11mb4107.namprd11.prod.outlook.com>",
    )
    assert len(env.related_message_ids) == 3


def test_bare_in_reply_to_without_brackets_is_still_understood() -> None:
    raw = b"From: carol@clientco.com\nSubject: Re: draft\nIn-Reply-To: settlement-draft-1@ACME-LAW.com\n\nOK\n"
    assert parse(raw).in_reply_to == ("<settlement-draft-1@acme-law.com>",)


def test_received_copy_has_its_time_in_utc_and_its_delivered_to() -> None:
    env = fixture("gmail_reply_with_references.eml")
    assert env.sent_at == utc(2024, 3, 5, 14, 22, 41)  # 15:22:41 +0100
    assert emails(env.delivered_to) == ["alice@acme-law.com"]


def test_gmail_quoted_reply_is_not_mistaken_for_a_forward() -> None:
    env = fixture("gmail_reply_with_references.eml")
    assert "On Tue, Mar 5, 2024 at 2:05 PM Alice Archer <alice@acme-law.com> wrote:" in env.text
    assert env.forwarded == ()


# --- HTML ----------------------------------------------------------------------------------------


def test_html_only_mail_is_stored_as_text_without_scripts() -> None:
    env = fixture("html_only_with_script_and_style.eml")
    assert env.text.splitlines()[:5] == [
        "Kickoff agenda",
        "",
        "Hello Hank,",
        "",
        "Here is the plan for Thursday’s kickoff:",
    ]
    assert "[our project page](https://projects.acme-law.com/1001/agenda)" in env.text
    for hidden in ("trackOpen", "dataLayer", "font-family", "display: none"):
        assert hidden not in env.text
    assert env.html is not None and 'trackOpen("open-7f3a9c")' in env.html  # the original is kept


def test_html_to_text_keeps_links_addresses_and_table_cells_readable() -> None:
    html = (
        "<style>p { color: red }</style><p>Call me - or mail "
        '<a href="mailto:hank@globex.com">hank@globex.com</a> / <a href="mailto:mindy@globex.com">Mindy</a>'
        '.</p><table><tr><td>10:00</td><td>Welcome</td></tr></table><p>- not a list<br>1. not either</p>'
        '<p><a href="https://globex.com/q1">Q1 numbers</a></p><script>steal()'
    )
    assert html_to_text(html) == (
        "Call me - or mail hank@globex.com / Mindy <mindy@globex.com>.\n\n"
        "10:00 Welcome\n\n"
        "- not a list\n1. not either\n\n"
        "[Q1 numbers](https://globex.com/q1)"
    )


def test_html_comments_are_hidden_and_a_stray_less_than_sign_is_text() -> None:
    html = "<p>a&nbsp;b</p><!-- hidden <b>x</b> --><p>if a < b then</p><p>&lt;c&gt;</p><!-- unclosed <p>c</p>"
    assert html_to_text(html) == "a b\n\nif a < b then\n\n<c>"


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "html",
    [
        "<a href='" * 20_000,  # Python 3.11.7's html.parser alone: ~50 s (CVE-2025-6069)
        "<!--" * 50_000,  # ~15 s
        "<ul><li>" * 20_000,  # a converter indenting by depth would write gigabytes of spaces
    ],
)
def test_hostile_html_is_converted_without_hanging_or_blowing_up(html: str) -> None:
    assert len(html_to_text(html)) < 10 * len(html)  # the timeout above guards against a hang


# --- forwards ------------------------------------------------------------------------------------


def test_gmail_inline_forward_identifies_original_participants() -> None:
    [original] = fixture("gmail_inline_forward.eml").forwarded
    assert original.from_ == Address("peter@initech.com", "Peter Gibbons")
    assert people(original.to) == [("Alice Archer", "alice@acme-law.com")]
    assert people(original.cc) == [
        ("Michael Bolton", "michael@initech.com"),
        ("Samir Nagheenanajar", "samir@initech.com"),
    ]
    assert original.subject == "TPS report cover sheets"
    assert original.sent_at == utc(2024, 3, 4, 10, 12)  # "Mon, Mar 4, 2024 at 10:12\u202fAM"
    assert original.text == (
        "Hi Alice,\n\nWe need the new cover sheets on every TPS report from now on. Did you get the memo?\n\nPeter"
    )


def test_gmail_forward_is_also_found_in_the_text_of_its_html_part() -> None:
    env = fixture("gmail_inline_forward.eml")
    assert env.html is not None
    [original] = find_inline_forwards(html_to_text(env.html))
    assert original == env.forwarded[0]


def test_outlook_inline_forward_reads_mailto_addresses_and_semicolon_lists() -> None:
    first = fixture("outlook_inline_forward.eml").forwarded[0]
    assert first.from_ == Address("peter@initech.com", "Peter Gibbons")  # <mailto:…>
    assert people(first.to) == [("Alice Archer", "alice@acme-law.com"), ("Baker, Bob", "bob@acme-law.com")]
    assert people(first.cc) == [("Lumbergh, Bill", "bill@initech.com"), ("Milton Waddams", "milton@initech.com")]
    assert (first.subject, first.sent_at) == ("RE: Red stapler", utc(2024, 3, 4, 16, 47))
    assert first.text == "Milton says the stapler is his. Can we settle this before Friday?"


def test_outlook_forward_of_a_thread_yields_every_quoted_original() -> None:
    env = fixture("outlook_inline_forward.eml")
    assert len(env.forwarded) == 2
    older = env.forwarded[1]
    assert older.from_ == Address("bill@initech.com", "Lumbergh, Bill")  # [mailto:…]
    assert people(older.to) == [("Milton Waddams", "milton@initech.com")]  # "Peter Gibbons" has no address
    assert (older.subject, older.sent_at) == ("Red stapler", utc(2024, 3, 1, 9, 5))


def test_outlook_word_html_forward_header_is_recognised() -> None:
    env = fixture("outlook_inline_forward.eml")
    assert env.html is not None
    [original] = find_inline_forwards(html_to_text(env.html))  # Word draws no separator, only a border
    assert original.from_ == Address("peter@initech.com", "Peter Gibbons")
    assert emails(original.cc) == ["bill@initech.com", "milton@initech.com"]
    assert original.sent_at == utc(2024, 3, 4, 16, 47)


def test_forward_as_attachment_reads_the_attached_message() -> None:
    env = fixture("outlook_forward_as_attachment.eml")
    [original] = env.forwarded
    assert original.from_ == Address("hank@globex.com", "Hank Scorpio")
    assert (emails(original.to), emails(original.cc)) == (["alice@acme-law.com"], ["mindy@globex.com"])
    assert original.subject == "Hammock District - Q1 numbers"
    assert original.sent_at == utc(2024, 3, 7, 16, 15)
    assert original.text.startswith("Alice,\n\nQ1 numbers for the Hammock District")
    assert env.text == "Forwarding Hank's mail for the Globex file.\n\nAlice"


def test_attached_message_is_kept_as_an_eml_file_that_parses_again() -> None:
    [attached] = fixture("outlook_forward_as_attachment.eml").attachments
    assert (attached.name, attached.content_type) == ("Hammock District - Q1 numbers.eml", "message/rfc822")
    again = parse(attached.read())
    assert (again.from_, again.subject) == (Address("hank@globex.com", "Hank Scorpio"), "Hammock District - Q1 numbers")


def test_quoted_and_starred_forward_blocks_are_recognised() -> None:
    text = (
        "See below.\n\n"
        "> ---------- Forwarded message ---------\n"
        "> From: *Peter Gibbons* <peter@initech.com>\n"
        "> Date: Tue, Mar 3, 2026 at 4:05 PM\n"
        "> Subject: Cover sheets\n"
        "> To: alice@acme-law.com\n"
        ">\n"
        "> Did you get the memo?\n"
    )
    [original] = find_inline_forwards(text)
    assert original.from_ == Address("peter@initech.com", "Peter Gibbons")
    assert people(original.to) == [("", "alice@acme-law.com")]
    assert (original.sent_at, original.text) == (utc(2026, 3, 3, 16, 5), "Did you get the memo?")


def test_a_separator_line_makes_even_a_sparse_header_block_a_forward() -> None:
    for separator in ("---------- Forwarded message ---------", "-----Original Message-----", "_" * 32):
        [original] = find_inline_forwards(f"FYI\n{separator}\nFrom: Peter <peter@initech.com>\n\nMemo attached.")
        assert (original.from_, original.sent_at, original.text) == (
            Address("peter@initech.com", "Peter"),
            None,
            "Memo attached.",
        )


def test_a_from_line_alone_is_not_a_forward() -> None:
    assert find_inline_forwards("From: Peter <peter@initech.com>\nThanks for lunch!") == ()


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("Mon, Mar 4, 2024 at 10:12\u202fAM", utc(2024, 3, 4, 10, 12)),  # Gmail
        ("Monday, March 4, 2024 10:12 PM", utc(2024, 3, 4, 22, 12)),  # Outlook (US)
        ("Monday, 4 March 2024 10:12", utc(2024, 3, 4, 10, 12)),  # Outlook (UK)
        ("March 4, 2024 at 10:12:30 AM GMT+1", utc(2024, 3, 4, 9, 12, 30)),  # Apple Mail
        ("Mon, 4 Mar 2024 10:12:00 -0500", utc(2024, 3, 4, 15, 12)),  # RFC 5322
        ("March 4, 2024 at 10:12:30 AM GMT+99", utc(2024, 3, 4, 10, 12, 30)),  # no such zone: UTC
        ("4 Mar 2024 10:12 PM", None),  # unknown layout: better no date than 10:12 instead of 22:12
        ("next Tuesday-ish", None),
        ("", None),
    ],
)
def test_forwarded_dates_are_read_best_effort(written: str, expected: datetime | None) -> None:
    assert parse_date(written) == expected


def test_forwarded_recipient_lists_accept_commas_semicolons_and_bare_addresses() -> None:
    assert people(parse_addresses("a@x.com, Bee <b@y.com>")) == [("", "a@x.com"), ("Bee", "b@y.com")]
    outlook = "Alice Archer; Baker, Bob <BOB@acme-law.com>; 'Carol' [mailto:carol@clientco.com]"
    assert people(parse_addresses(outlook)) == [("Baker, Bob", "bob@acme-law.com"), ("Carol", "carol@clientco.com")]


# --- attachments ---------------------------------------------------------------------------------


def test_pdf_attachment_is_decoded_to_its_bytes() -> None:
    pdf = fixture("gmail_pdf_attachment.eml").attachments[0]
    assert (pdf.name, pdf.content_type, pdf.is_inline) == ("engagement-letter.pdf", "application/pdf", False)
    content = pdf.read()
    assert content.startswith(b"%PDF-1.4\n") and content.endswith(b"%%EOF\n")
    assert pdf.size == len(content) == 601


def test_attached_text_file_is_not_mistaken_for_the_body() -> None:
    env = fixture("gmail_pdf_attachment.eml")
    notes = env.attachments[1]
    assert (notes.name, notes.content_type) == ("Übersicht März.txt", "text/plain")  # RFC 2231 name
    assert notes.read() == b"Open items\n1. Signature page\n2. Conflict check\n"
    assert env.text == "Hi Mindy,\n\nAttached is the engagement letter, plus the list of open items.\n\nAlice"


def test_attachment_file_names_cannot_name_a_directory() -> None:
    raw = (
        b"From: mallory@evil.example\nTo: notes@bcc.example.com\nSubject: x\n"
        b'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n\n'
        b'--b\nContent-Type: text/plain\n\nhi\n--b\nContent-Type: application/octet-stream\n'
        b'Content-Disposition: attachment; filename="..\\\\..\\\\evil/../../etc/passwd"\n\nroot\n--b\n'
        b"Content-Type: image/gif\n\nGIF89a\n--b--\n"
    )
    assert [(a.name, a.read()) for a in parse(raw).attachments] == [
        ("passwd", b"root"),
        ("attachment-2.gif", b"GIF89a"),  # no name at all: one is made up from the type
    ]


# --- bulk and automatic mail ---------------------------------------------------------------------


def test_newsletter_exposes_its_list_headers() -> None:
    env = fixture("newsletter_list_unsubscribe.eml")
    assert env.header("List-Id") == "Globex Weekly <weekly.news.globex.com>"
    assert env.header("List-Unsubscribe") == (
        "<https://news.globex.com/u/a1b2c3>, <mailto:unsubscribe-a1b2c3@news.globex.com?subject=unsubscribe>"
    )
    assert env.header("Precedence") == "bulk"
    assert people(env.reply_to) == [("Globex Communications", "comms@globex.com")]


def test_out_of_office_reply_is_marked_auto_submitted() -> None:
    env = fixture("out_of_office_auto_reply.eml")
    assert env.header("Auto-Submitted") == "auto-replied"
    assert env.subject == "Automatic reply: Smith v. Jones – disclosure schedule"
    assert env.in_reply_to == ("<DM6PR11MB41079F4C2E1B5D3A8C7E6F21D4E52@dm6pr11mb4107.namprd11.prod.outlook.com>",)


# --- charsets ------------------------------------------------------------------------------------


def test_iso_8859_1_mail_is_decoded_including_windows_punctuation() -> None:
    env = fixture("body_iso_8859_1.eml")
    assert env.subject == "Færgetider til Ærø"
    assert env.from_ == Address("zoe@example.dk", "Zoë Østergaard")
    assert env.text.splitlines()[:3] == [
        "Kære Alice,",
        "",
        "Tak for udkastet. Færgen fra Ærøskøbing sejler kl. 9.15 - nej, undskyld, kl. 9.45.",
    ]
    assert "Vi ses (it’s lovely) på Ærø." in env.text  # byte 0x92 read as Windows-1252


def test_windows_1252_body_is_decoded() -> None:
    env = fixture("body_windows_1252.eml")
    assert "the “fixed fee” is €1,500 – payable on signature." in env.text


def test_unknown_charset_and_raw_utf8_headers_fall_back_to_utf8() -> None:
    env = fixture("unknown_charset.eml")
    assert env.subject == "Café meeting"
    assert env.text == "See you at the café on Friday – my treat."


def test_undeclared_latin1_bytes_in_headers_are_repaired() -> None:
    env = parse(b"From: Ren\xe9e <renee@clientco.com>\nSubject: Caf\xe9\n\nbonjour\n")
    assert (env.from_, env.subject) == (Address("renee@clientco.com", "Renée"), "Café")


# --- broken input --------------------------------------------------------------------------------


def test_truncated_headers_still_give_an_envelope() -> None:
    env = fixture("malformed_truncated_headers.eml")
    assert (env.from_, emails(env.to)) == (Address("hank@globex.com", "Hank Scorpio"), ["alice@acme-law.com"])
    assert (env.subject, env.sent_at, env.text) == ("Hammock District", None, "")


def test_bad_header_values_do_not_lose_the_message() -> None:
    env = fixture("malformed_header_values.eml")
    assert env.from_ == Address("peter@initech.com", "Peter Gibbons")
    assert (env.to, people(env.cc)) == ((), [("Samir", "samir@initech.com")])
    assert env.header("Message-ID") == "<("  # the raw text, where the parser gives up
    assert env.internet_message_id.endswith("@bcc-capture.invalid>")
    assert (env.sent_at, env.in_reply_to) == (None, ())
    assert env.references == ("<tps-1@initech.com>", "<tps-2@initech.com>")
    assert env.text == "The TPS reports are done. ✓"


@pytest.mark.timeout(60)
def test_a_huge_header_is_read_from_its_raw_text_without_stalling() -> None:
    raw = b'From: hank@globex.com\nTo: alice@acme-law.com, "' + b'"' * 30_000 + b"\nSubject: Hi\n\nHello\n"
    started = time.perf_counter()
    env = parse(raw)  # the stdlib's address parser needs ~12 s for this one header
    assert time.perf_counter() - started < 3
    assert (emails(env.to), env.subject) == (["alice@acme-law.com"], "Hi")


def test_garbage_bytes_are_rejected_with_a_clear_error() -> None:
    with pytest.raises(MimeError, match="no header section"):
        parse(fixture_bytes("malformed_garbage_bytes.eml"))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "empty message"),
        (b" \r\n\t\n", "empty message"),
        (b"X-Spam-Score: 9.9\nContent-Type: text/plain\n\nbuy now\n", "no From, no recipients"),
        ("From: alice@acme-law.com\n\nhi", "expected the message as bytes, got str"),
    ],
)
def test_input_that_is_not_a_message_is_rejected(raw: bytes, message: str) -> None:
    with pytest.raises(MimeError, match=message):
        parse(raw)


def test_message_without_message_id_gets_a_stable_synthetic_id() -> None:
    raw = fixture_bytes("missing_message_id.eml")
    env = parse(raw)
    assert env.internet_message_id == f"<{hashlib.sha256(raw).hexdigest()}@bcc-capture.invalid>"
    assert parse(raw).internet_message_id == env.internet_message_id
    assert parse(raw + b"P.S.\n").internet_message_id != env.internet_message_id


def test_provider_context_is_carried_into_the_envelope() -> None:
    env = parse(
        fixture_bytes("missing_message_id.eml"),
        source=Source.GRAPH,
        mailbox="alice@acme-law.com",
        provider_message_id="AAMkAGI2TG93AAA=",
        thread_key="graph:alice@acme-law.com:AAQkAGI2",
        direction=Direction.RECEIVED,
    )
    assert (env.source, env.mailbox, env.provider_message_id) == (
        Source.GRAPH,
        "alice@acme-law.com",
        "AAMkAGI2TG93AAA=",
    )
    assert (env.thread_key, env.direction, env.complete) == (
        "graph:alice@acme-law.com:AAQkAGI2",
        Direction.RECEIVED,
        True,
    )


# --- demo samples --------------------------------------------------------------------------------


def test_demo_samples_ship_as_package_data() -> None:
    names = sorted(p.name for p in SAMPLES.iterdir() if p.name.endswith(".eml"))
    assert names == [
        "01_sent_matter_bcc.eml",
        "02_client_reply.eml",
        "03_forward_received_to_notes.eml",
        "04_stranger_spoof.eml",
        "05_html_only_project.eml",
        "07_notes_two_contacts.eml",
        "08_opportunity_ref.eml",
        "09_notes_unassigned.eml",
        "10_non_ascii_matter.eml",
    ]
    envelopes = [sample(name) for name in names]
    assert len({e.internet_message_id for e in envelopes}) == len(names)
    for env in envelopes:
        assert env.sent_at is not None and (env.sent_at.year, env.sent_at.month) == (2026, 3)
        assert env.text and env.subject and env.from_ is not None


def test_sample_01_sent_matter_mail_has_the_matter_bcc_and_one_pdf() -> None:
    env = sample("01_sent_matter_bcc.eml")
    assert env.internet_message_id == "<settlement-draft-1@acme-law.com>"
    assert (env.from_, emails(env.to), emails(env.bcc)) == (
        Address("alice@acme-law.com", "Alice Archer"),
        ["carol@clientco.com"],
        [MATTER],
    )
    assert env.subject == "Smith v. Jones – settlement draft"
    [pdf] = env.attachments
    assert (pdf.name, pdf.content_type) == ("Settlement agreement - draft v1.pdf", "application/pdf")
    assert pdf.read().startswith(b"%PDF-1.4")


def test_sample_02_client_reply_refers_to_the_draft_without_any_dropbox_address() -> None:
    env = sample("02_client_reply.eml")
    assert env.from_ == Address("carol@clientco.com", "Carol Client")
    assert (env.in_reply_to, env.references) == (("<settlement-draft-1@acme-law.com>",),) * 2
    assert env.subject == "Re: Smith v. Jones – settlement draft"
    assert b"bcc.example.com" not in SAMPLES.joinpath("02_client_reply.eml").read_bytes()


def test_sample_03_forward_to_notes_identifies_peter_as_the_original_sender() -> None:
    env = sample("03_forward_received_to_notes.eml")
    assert (emails(env.to), env.cc, env.bcc) == ([NOTES], (), ())
    assert env.subject == "FW: TPS report cover sheets"
    [original] = env.forwarded
    assert original.from_ == Address("peter@initech.com", "Peter Gibbons")
    assert emails(original.to) == ["alice@acme-law.com"]
    assert (original.subject, original.sent_at) == ("TPS report cover sheets", utc(2026, 3, 9, 9, 14))


def test_sample_04_is_a_stranger_writing_to_the_matter_address() -> None:
    env = sample("04_stranger_spoof.eml")
    assert (env.from_, emails(env.to)) == (Address("mallory@evil.example", "Account Security"), [MATTER])
    assert env.subject == "URGENT: Your invoice #88231 is overdue – act now!!!"


def test_sample_05_html_only_project_mail_is_stored_as_clean_text() -> None:
    env = sample("05_html_only_project.eml")
    assert (emails(env.to), emails(env.bcc)) == (["hank@globex.com"], ["1001.acme@bcc.example.com"])
    assert env.subject == "Website relaunch – kickoff agenda"
    assert env.html is not None and "<script" in env.html
    assert "10:00 Welcome and introductions" in env.text
    assert "agendaLoaded" not in env.text and "font-family" not in env.text


@pytest.mark.parametrize(
    ("name", "to", "cc", "subject"),
    [
        ("07_notes_two_contacts.eml", ["hank@globex.com"], ["peter@initech.com"], "Joint venture intro"),
        ("08_opportunity_ref.eml", ["hank@globex.com"], [], "Renewal pricing #CO34322"),
        ("09_notes_unassigned.eml", ["newperson@unknown.example"], [], "Nice to meet you"),
    ],
)
def test_samples_bcc_the_shared_notes_address(name: str, to: list[str], cc: list[str], subject: str) -> None:
    env = sample(name)
    assert (env.from_, emails(env.to), emails(env.cc), emails(env.bcc), env.subject) == (
        Address("alice@acme-law.com", "Alice Archer"),
        to,
        cc,
        [NOTES],
        subject,
    )


def test_sample_10_non_ascii_matter_mail_is_decoded() -> None:
    env = sample("10_non_ascii_matter.eml")
    assert people(env.to) == [("Zoë Østergaard", "zoe@example.dk")]
    assert (emails(env.bcc), env.subject) == ([MATTER], "Zoë's contract – Ærø ferry schedule")
    assert "the ferry from Svendborg to Ærøskøbing leaves at 09:15" in env.text


# --- properties ----------------------------------------------------------------------------------

READABLE = sorted(p.name for p in FIXTURES.glob("*.eml") if p.name != "malformed_garbage_bytes.eml")
ALL_BYTES = [fixture_bytes(p.name) for p in sorted(FIXTURES.glob("*.eml"))] + [
    SAMPLES.joinpath(n).read_bytes() for n in ("01_sent_matter_bcc.eml", "03_forward_received_to_notes.eml")
]
HEADER_NAMES = ["From", "To", "Cc", "Bcc", "Subject", "Date", "Message-ID", "References", "In-Reply-To",
                "Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "MIME-Version", "X-Whatever"]
HEADER_TOKENS = [*'<>@"()\\,;:.=?[] \tabz\xe9', "=?utf-8?q?", "?=", "mailto:", "boundary=", "multipart/mixed",
                 "base64", "\n ", "\r\n", "alice@acme-law.com"]
HEADER_JUNK = st.lists(st.sampled_from(HEADER_TOKENS), max_size=30).map("".join)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def parse_or_error(raw: bytes) -> Envelope | str:
    """The envelope, or the MimeError's message; any other exception fails the test."""
    try:
        return parse(raw)
    except MimeError as exc:
        return f"MimeError: {exc}"


def assert_storable(env: Envelope) -> None:
    """Every string can go into the database: valid UTF-8 (no lone surrogates), no NUL."""
    addresses = [*env.all_addresses, *(a for f in env.forwarded for a in (*f.to, *f.cc, *filter(None, [f.from_])))]
    strings = [
        env.subject, env.text, env.html or "", env.internet_message_id, *env.in_reply_to, *env.references,
        *(part for header in env.headers for part in header), *(a.name for a in env.attachments),
        *(part for a in addresses for part in (a.email, a.name)),
        *(part for f in env.forwarded for part in (f.subject, f.text)),
    ]
    for value in strings:
        value.encode("utf-8")
        assert "\x00" not in value


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(st.sampled_from(ALL_BYTES)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(raw)))
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        if kind == "flip" and at < len(raw):
            raw[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            raw[at:at] = draw(st.binary(max_size=12) | st.sampled_from([b"\n", b"\n--", b"=?", b"<", b":"]))
        elif kind == "delete":
            del raw[at : at + draw(st.integers(1, 40))]
        else:
            del raw[at:]
    return bytes(raw)


@st.composite
def header_soup(draw: st.DrawFn) -> bytes:
    lines = [f"{draw(st.sampled_from(HEADER_NAMES))}: {draw(HEADER_JUNK)}" for _ in range(draw(st.integers(1, 8)))]
    return ("\n".join(lines) + "\n\n" + draw(st.text(max_size=60))).encode()


@PROPERTY
@given(st.binary(max_size=800) | mutated() | header_soup())
def test_any_bytes_give_an_envelope_or_a_mime_error_and_always_the_same_one(raw: bytes) -> None:
    first = parse_or_error(raw)
    assert isinstance(first, Envelope) or first.startswith("MimeError: ")
    assert not str(first).startswith("MimeError: unreadable message")  # the last-resort net stays unused
    if isinstance(first, Envelope):
        assert_storable(first)
    assert parse_or_error(raw) == first


FORWARD_TOKENS = ["From: ", "Sent: ", "Date: ", "To: ", "Cc: ", "Subject: ", "\n", "> ", "GMT+99", "UTC", "PM",
                  "---------- Forwarded message ---------", "________________________________", "Monday, March 4, 2024",
                  "4:47", "<a@b.c>", "[mailto:x@y.z]", "; ", ", ", "at", "*", '"', "0001", "99999"]


@PROPERTY
@given(st.lists(st.sampled_from(FORWARD_TOKENS) | st.text(max_size=4), max_size=40).map("".join))
def test_forward_detection_never_raises_on_odd_text(text: str) -> None:
    for original in find_inline_forwards(text):
        assert original.sent_at is None or original.sent_at.utcoffset() == timedelta(0)
    parse_addresses(text)


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(READABLE), body=st.binary(max_size=300), at=st.integers(0, 10_000))
def test_damage_below_the_headers_never_loses_the_message(name: str, body: bytes, at: int) -> None:
    raw = fixture_bytes(name)
    split = raw.find(b"\n\n")
    if split < 0:
        return  # no body at all (the truncated fixture)
    head, rest = raw[: split + 2], raw[split + 2 :]
    at %= len(rest) + 1
    damaged = parse(head + rest[:at] + body)
    original = parse(raw)
    assert (damaged.from_, damaged.to, damaged.subject, damaged.sent_at) == (
        original.from_,
        original.to,
        original.subject,
        original.sent_at,
    )


def test_same_bytes_give_equal_envelopes() -> None:
    for name in READABLE:
        assert fixture(name) == fixture(name), name
        assert_storable(fixture(name))


# --- hostile mail: keep what parses, note the rest -------------------------------------------------
def _with_attachment(part_headers: bytes, body: bytes) -> bytes:
    return (b"From: Mallory <m@evil.example>\r\nTo: alice@acme-law.com\r\nSubject: Invoice\r\n"
            b"Message-ID: <poison@evil.example>\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\n"
            b"Please see the attachment.\r\n--XX\r\n" + part_headers + b"\r\n\r\n" + body + b"\r\n--XX--\r\n")


def test_an_attachment_in_a_codec_that_refuses_replacement_keeps_the_message() -> None:
    raw = _with_attachment(b'Content-Type: text/plain; charset="idna"\r\nContent-Disposition: attachment; '
                           b"filename=a.txt\r\nContent-Transfer-Encoding: 8bit", b"\xe9\xe8\xff abc")
    envelope = parse(raw)
    assert envelope.text == "Please see the attachment."
    [attachment] = envelope.attachments
    assert attachment.name == "a.txt" and attachment.content == b"\xe9\xe8\xff abc"


def test_a_references_flood_keeps_the_thread_root_and_the_latest_ids_and_says_so() -> None:
    ids = [f"<r{n}@x.example>" for n in range(70_000)]
    envelope = parse(mail("Carol <carol@clientco.com>", ["alice@acme-law.com"], references=ids))
    assert len(envelope.references) == mime.MAX_REFERENCES
    assert envelope.references[0] == "<r0@x.example>" and envelope.references[-1] == "<r69999@x.example>"
    assert any("70000 References" in problem for problem in envelope.problems)


def test_a_parameter_flood_is_cut_before_the_email_package_reads_it() -> None:
    flood = b"".join(b"; name*%d*=utf-8''a%d" % (n, n) for n in range(50_000))
    envelope = parse(_with_attachment(b"Content-Type: application/octet-stream" + flood +
                                      b"\r\nContent-Disposition: attachment", b"abc"))
    assert envelope.text == "Please see the attachment." and len(envelope.attachments) == 1
    assert any("50000 parameters" in problem for problem in envelope.problems)


def test_mime_nesting_beyond_the_limit_is_noted_and_the_outer_text_kept() -> None:
    raw = b"From: m@evil.example\r\nTo: alice@acme-law.com\r\nSubject: Deep\r\nMIME-Version: 1.0\r\n"
    for level in range(60):
        raw += b"Content-Type: multipart/mixed; boundary=B%d\r\n\r\n--B%d\r\n" % (level, level)
    envelope = parse(raw + b"Content-Type: text/plain\r\n\r\ndeep inside\r\n")
    assert envelope.subject == "Deep"
    assert any("nesting deeper than" in problem for problem in envelope.problems)


def test_a_recipient_flood_is_cut_to_the_limit_and_noted() -> None:
    to = [f"user{n}@flood.example" for n in range(5_000)]
    envelope = parse(mail("Mallory <m@evil.example>", to))
    assert len(envelope.to) == mime.MAX_ADDRESSES and envelope.to[0].email == "user0@flood.example"
    assert any("5000 addresses in To" in problem for problem in envelope.problems)


def _as_read(msg: Message) -> list[object]:
    """Everything the envelope takes from a parsed tree's headers: each part's fields, type, charset, file name."""
    found: list[object] = []
    for part in msg.walk():
        found.append(fields.read(part))
        for ask in (part.get_content_type, part.get_content_charset, part.get_filename, part.get_content_disposition):
            found.append(fields.safe(ask, "raised"))
    return found


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(READABLE).map(fixture_bytes) | mutated() | header_soup())
@example(b"From: a@b.c\nContent-Disposition: attachment; filename=a.txt\n"  # one value, two fields
         b"Content-Type: attachment; filename=a.txt\n\nbody")
def test_a_field_parsed_once_reads_exactly_as_the_default_policy_reads_it(raw: bytes) -> None:
    """The parser's policy parses each field of a message once (the email package would parse a Content-Type
    every time it is read) and remembers decoded texts across messages: what it reads must not change."""
    def read_with(chosen: Policy) -> list[object] | str:
        try:
            return _as_read(BytesParser(policy=chosen).parsebytes(raw))
        except Exception as exc:
            return type(exc).__name__

    assert read_with(fields.message_policy()) == read_with(policy.default)
