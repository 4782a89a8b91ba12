"""Header fields read without the email package's parser must read exactly as its default policy reads them."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser

from hypothesis import example, given, settings
from hypothesis import strategies as st

from connector.mail import fields

_ID_CHARS = st.sampled_from(list("abcXYZ019.-_+=$!#%&'*/?^`{|}~<>@()[]\",;: \\"))
_TEXT = st.text(_ID_CHARS, max_size=30)
_DATES = st.sampled_from(["Mon, 6 Jan 2025 08:00:00 +0000", "6 Jan 2025 08:00 -0500", "Tue, 31 Feb 2025 1:2:3 GMT",
                          "Wed, 01 Oct 2025 10:00:00 +0100 (CET)", "next Tuesday", "", "Thu, 1 Jan 1970 00:00:00",
                          "Fri, 12 Dec 2025 25:61:00 +0000", "Sat, 3 May 25 09:15:00 EST", "2025-01-06T08:00:00Z"])


def _read(name: str, value: str) -> str:
    msg = BytesParser(policy=fields.message_policy()).parsebytes(f"{name}: {value}\n\nbody".encode())
    return fields.read(msg)[0][1]


def _standard(name: str, value: str) -> str | None:
    """policy.default's text of the field as the message carries it (None when its parser raises)."""
    msg = BytesParser(policy=policy.compat32).parsebytes(f"{name}: {value}\n\nbody".encode())
    carried = msg.get(name, "")
    try:
        return fields.clean(str(policy.default.header_fetch_parse(name, carried))).strip()
    except Exception:
        return None


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["Message-ID", "MIME-Version"]), st.one_of(
    _TEXT, st.builds("<{}@{}>".format, _TEXT, _TEXT),
    st.builds("{}.{}".format, st.integers(0, 12), st.integers(0, 12))))
@example("Message-ID", "<CAF=abc+d.e@mail.gmail.com>")
@example("Message-ID", "<a..b@c>")
@example("Message-ID", "<.a@b>")
@example("MIME-Version", "1.0")
@example("MIME-Version", "1.0 (produced by Outlook)")
def test_an_identifier_field_reads_as_the_default_policy_reads_it(name: str, value: str) -> None:
    standard = _standard(name, value)
    if standard is not None:
        assert _read(name, value) == standard


@settings(max_examples=100, deadline=None)
@given(_DATES)
def test_a_date_field_reads_as_the_default_policy_reads_it(value: str) -> None:
    standard = _standard("Date", value)
    if standard is not None:
        assert _read("Date", value) == standard
