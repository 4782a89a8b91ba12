"""Header fields of an RFC 5322 message, read one by one so that no malformed field loses the others.

The standard library's ``policy.default`` raises surprising exceptions on garbage headers, so each
field is parsed on its own and falls back to its raw text (RFC 2047 words decoded by hand); addresses
that do not parse are skipped; an unparseable Date is None.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import re
from collections.abc import Callable
from datetime import UTC, datetime
from email import policy
from email.header import decode_header, make_header
from email.headerregistry import BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import Message
from email.policy import EmailPolicy
from email.utils import format_datetime, getaddresses, parsedate_to_datetime
from typing import TypeVar

from connector.mail.envelope import Address, normalize_message_id

T = TypeVar("T")
_MAX_PARSED_HEADER = 16_384  # longer header values are read from their raw text only
MAX_HEADERS = 1_000  # header fields read per message or part (real mail has well under 200)
LINE_BREAK = re.compile(r"\r\n|\r|\n")
_ID_TOKEN = re.compile(r"<\s*([^<>\s]+)\s*>")
_EMAIL = re.compile(r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+$")
_ENCODED_WORDS = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=(?:\s+=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=)*")
_SYNTHETIC_DOMAIN = "bcc-capture.invalid"
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")  # an undeclared 8-bit byte, as the parser's surrogateescape keeps it

_REMEMBERED_VALUE = 1_024  # longer values are parsed each time, so the memo stays a few megabytes at most


class _Registry(HeaderRegistry):
    """The default header classes, each made once: HeaderRegistry builds a new class (``type(...)``) for every field
    it parses, a tenth of the parsing time."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = super().__getitem__(name)
        return made


_REGISTRY = _Registry()
_DEFAULT = EmailPolicy(header_factory=_REGISTRY)  # policy.default's answers


@functools.lru_cache(maxsize=4_096)
def _decoded(name: str, value: str) -> str:
    """The default policy's text of a field. Remembered across messages: a mailbox's From/To/Date-like values
    recur, and only the text is kept (a parsed address list holds kilobytes of parse tree per address)."""
    return str(_DEFAULT.header_fetch_parse(name, value))


class _OneMessagePolicy(EmailPolicy):
    """``policy.default`` that parses each header field of one message once. The email package parses a field
    anew on every read: a part's Content-Type five times or more (its type, charset, file name, the parser's own
    multipart check), most of a message's parsing time. Made per message (`message_policy`), so what it keeps
    lives as long as the message's tree."""

    def __init__(self) -> None:
        super().__init__(header_factory=_REGISTRY)
        object.__setattr__(self, "_parsed", {})  # policies are read-only once made

    def header_fetch_parse(self, name: str, value: str) -> str:
        parsed: dict[tuple[str, str], str] | None = getattr(self, "_parsed", None)  # None in a clone
        if parsed is None or type(value) is not str:  # a header object is already parsed
            return super().header_fetch_parse(name, value)  # type: ignore[no-any-return]
        found = parsed.get((name, value))
        if found is None:
            found = parsed[(name, value)] = super().header_fetch_parse(name, value)
        return found


def message_policy() -> EmailPolicy:
    """The policy to parse one message with: `policy.default`'s answers, each field parsed once."""
    return _OneMessagePolicy()


def safe(read: Callable[[], T], default: T) -> T:
    try:
        return read()
    except Exception:
        return default


class Headers(list[tuple[str, str, str]]):
    """(name, decoded value, raw unfolded value) of every header, in order; a name's fields found without a scan
    (a message's fields are looked up a dozen times, each scan lower-casing every name)."""

    def __init__(self, items: list[tuple[str, str, str]]) -> None:
        super().__init__(items)
        self.named: dict[str, list[tuple[str, str, str]]] = {}
        for found in items:
            self.named.setdefault(found[0].lower(), []).append(found)


def read(msg: Message) -> Headers:
    """(name, decoded value, raw unfolded value) of every header, in order."""
    headers = []
    for name, value in itertools.islice(msg.raw_items(), MAX_HEADERS):
        raw = _repair("".join(LINE_BREAK.split(str(value)))).strip()
        decoded = None
        # Undeclared 8-bit bytes: the policy would make them U+FFFD. Huge values: its parser is
        # quadratic on some (a 140 kB To: takes seconds); the raw text is as good for those.
        if _plain_unstructured(msg, name, str(value)):  # the policy's parse would give back the text unfolded
            decoded = "".join(LINE_BREAK.split(str(value)))
        elif len(str(value)) <= _MAX_PARSED_HEADER and not _has_escaped_bytes(str(value)):
            decoded = safe(lambda n=name, v=value: _text(msg, n, v), None)
        headers.append((name, clean(decoded).strip() if decoded is not None else _decode_words(raw), raw))
    return Headers(headers)


def _text(msg: Message, name: str, value: str) -> str:
    if isinstance(msg.policy, EmailPolicy) and type(value) is str:
        shortcut = _SHORTCUTS.get(name.lower())
        known = shortcut(value) if shortcut is not None else None
        if known is not None:
            return known
        if len(value) <= _REMEMBERED_VALUE:
            return _decoded(name, value)
    return str(msg.policy.header_fetch_parse(name, value))


def _date_text(value: str) -> str:
    """The default policy's text of a Date field (`DateHeader.parse`: the date written again, or the value
    itself when it is no date), without the parse of the rewritten text it makes and throws away."""
    try:
        return format_datetime(parsedate_to_datetime(value))
    except ValueError:
        return value


def _same_when(pattern: re.Pattern[str]) -> Callable[[str], str | None]:
    """The value itself when it is of a form the policy's parse gives back unchanged (else None: parse it)."""
    return lambda value: value if pattern.fullmatch(value) else None


# Fields whose text is known without the policy's parser. Each value is unique to its message, so the memo
# (`_decoded`) would only hold it in place of a recurring address; tests/connector/mail/test_fields.py holds each
# to policy.default's answer.
_SHORTCUTS: dict[str, Callable[[str], str | None]] = {
    "date": _date_text,
    "message-id": _same_when(re.compile(r"<[\w.+=$!#%&'*/?^`{|}~-]+@[\w.-]+>", re.ASCII)),
    "mime-version": _same_when(re.compile(r"[0-9]\.[0-9]")),
}


def _plain_unstructured(msg: Message, name: str, value: str) -> bool:
    """An ASCII value without encoded words of a free-text field (Subject, Received, DKIM-Signature, X-…): the
    default policy's parse returns it unfolded, at a tenth of a millisecond a field, the bulk of parsing time."""
    return isinstance(msg.policy, EmailPolicy) and value.isascii() and "=?" not in value and _unstructured(name.lower())


@functools.cache
def _unstructured(name: str) -> bool:
    factory = policy.default.header_factory
    return issubclass(factory.registry.get(name, factory.default_class), UnstructuredHeader)


def raw(headers: Headers, name: str) -> str:
    """The first such header's raw text ("" if absent)."""
    return next(iter(raw_all(headers, name)), "")


def raw_all(headers: Headers, name: str) -> list[str]:
    return [raw for _, _, raw in headers.named.get(name.lower(), ())]


def value(headers: Headers, name: str) -> str:
    found = headers.named.get(name.lower())
    return found[0][1] if found else ""


def _has_escaped_bytes(text: str) -> bool:
    return _ESCAPED_BYTE.search(text) is not None


def _repair(text: str) -> str:
    """Undo the parser's surrogate escapes of undeclared 8-bit header bytes (UTF-8, else cp1252)."""
    if not _has_escaped_bytes(text):
        return clean(text)
    return decode_bytes(text.encode("utf-8", "surrogateescape"), None)


def clean(text: str) -> str:
    return text.replace("\x00", "")


def _decode_words(text: str) -> str:
    """RFC 2047 encoded words → text; a run of words that cannot be decoded stays as it is."""
    return _ENCODED_WORDS.sub(_decode_word_run, text) if "=?" in text else text


def _decode_word_run(run: re.Match[str]) -> str:
    return clean(safe(lambda: str(make_header(decode_header(run[0]))), run[0]))


def addresses(headers: Headers, name: str) -> tuple[Address, ...]:
    values = raw_all(headers, name)
    found = []
    for display, email in safe(lambda: getaddresses(values), []):
        email = email.strip()
        if not _EMAIL.match(email) and " " in email:  # "Alice Archer alice@acme-law.com"
            display, _, email = email.rpartition(" ")
        if _EMAIL.match(email):
            name = _decode_words(display).strip().strip("\"'").strip()
            found.append(Address(email=email, name="" if name.lower() == email.lower() else name))
    return unique(tuple(found))


def unique(addresses: tuple[Address, ...]) -> tuple[Address, ...]:
    first_seen: dict[str, Address] = {}
    for address in addresses:
        first_seen.setdefault(address.email, address)
    return tuple(first_seen.values())


def first(addresses: tuple[Address, ...]) -> Address | None:
    return addresses[0] if addresses else None


def message_ids(value: str, *, bare_ok: bool = False) -> tuple[str, ...]:
    ids = [normalize_message_id(token) for token in _ID_TOKEN.findall(value)]
    if not ids and bare_ok and value.strip() and not any(c.isspace() or c in "<>" for c in value.strip()):
        ids = [normalize_message_id(value)]
    return tuple(dict.fromkeys(ids))


def message_id(value: str) -> str:
    return next(iter(message_ids(value, bare_ok=True)), "")


def synthetic_id(raw: bytes) -> str:
    return f"<{hashlib.sha256(raw).hexdigest()}@{_SYNTHETIC_DOMAIN}>"


def date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except Exception:
        return None


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Text in the declared charset; undeclared, unknown or wrong charsets never raise."""
    label = (charset or "").strip().lower()
    if label in ("iso-8859-1", "iso_8859-1", "latin-1", "latin1", "l1"):
        label = "windows-1252"  # what senders mean by it (as every browser assumes)
    if label and label not in ("us-ascii", "ascii"):
        try:
            return clean(data.decode(label, "replace"))
        except Exception:  # unknown label, or a codec that is not a text encoding
            pass
    try:
        return clean(data.decode("utf-8"))
    except UnicodeDecodeError:
        return clean(data.decode("windows-1252", "replace"))
