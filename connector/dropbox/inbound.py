"""Mail handed over by inbound-mail services over HTTP (Postmark, Mailgun, SendGrid here; Amazon SES through
SNS in `ses`), for firms that prefer not to run an MX: each call verified, then the raw message committed
to the SAME spool the SMTP listener writes, so filing, sender authentication and exactly-once are shared.

A call is taken only when it is
* genuine: Postmark and SendGrid by HTTP basic auth in the webhook URL (SendGrid, with a Parse security
  policy, also or instead by its ECDSA signature over timestamp + body), Mailgun by the HMAC-SHA256 of
  timestamp + token with the webhook signing key, SES by the SNS message signature from an allowed topic;
* fresh: a signed timestamp no older than the service's documented retry period (a retry repeats the
  original call and must still be taken after a 5xx), and a delivery id not seen before in that period
  (Mailgun's token, SNS's MessageId, Postmark's MessageID, SendGrid's signature or payload digest);
* addressed to the dropbox: each recipient gets the answer `RCPT TO` would get (`recipients`); the others
  are dropped, and a call left with none is refused.

`accept` commits the spool row before the route answers 2xx; a database failure propagates, and the route
answers the service's "retry". SPF needs the address of the server that sent the mail, which only SendGrid
reports (``sender_ip``): elsewhere SPF is not evaluated, and DKIM, which these services leave intact since
they hand over the message as received, carries the `From:` domain's authentication.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.utils import formatdate, parseaddr
from functools import lru_cache
from urllib.parse import unquote_to_bytes

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.engine import Engine

from connector.config import DropboxSettings, InboundSettings, Settings
from connector.db import transaction
from connector.dropbox import spool
from connector.dropbox.recipients import recipient_reply
from connector.routing.addresses import is_dropbox_domain
from connector.routing.repository import SqlRepository

HOUR = 3600.0
# How long each service retries a call that was not answered 2xx, from its documentation: a delivery id is
# remembered (and a signed timestamp accepted) that long, plus SKEW for clocks that disagree.
RETRY_PERIODS = {"postmark": 10.5 * HOUR,  # 10 retries over about 10.5 hours (Postmark support: inbound retries)
                 "mailgun": 8 * HOUR,  # "during 8 hours" (Mailgun: receiving messages via HTTP, forward())
                 "sendgrid": 72 * HOUR,  # "Messages that cannot be delivered after 3 days will be dropped"
                 "ses": 1 * HOUR}  # an SNS HTTP/S delivery policy's retries end within 3,600 seconds
SKEW = 15 * 60.0
MAX_RECIPIENTS = 100


class Refused(Exception):
    """A call not taken. ``forged``: its credentials or signature failed; otherwise it is stale, replayed,
    malformed, too large or addressed to no dropbox address."""

    def __init__(self, reason: str, detail: str = "", *, forged: bool = False) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail, self.forged = reason, detail, forged


@dataclass(frozen=True)
class Delivery:
    """One verified call's message, as the spool will hold it."""

    service: str
    delivery_id: str  # the replay key
    raw: bytes
    mail_from: str  # the envelope sender the service reports; "" for the null sender of a bounce
    recipients: tuple[str, ...]
    sender_ip: str = ""  # the address of the server that sent the mail, when the service reports it


class ReplayGuard:
    """Delivery ids seen by this process, each kept for ``window`` seconds (one guard per service, so the
    oldest is always first). Per process: behind several web processes a replayed call could be stored once
    by each, and is still filed once (one activity per message id per company)."""

    def __init__(self, window: float, max_entries: int = 1_000_000) -> None:
        self.window, self.max_entries = window, max_entries
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def claim(self, key: str, now: float) -> bool:
        """True the first time ``key`` is offered within the window (it is then taken); False for a replay."""
        with self._lock:
            while self._seen and (next(iter(self._seen.values())) <= now or len(self._seen) >= self.max_entries):
                self._seen.popitem(last=False)
            if key in self._seen:
                return False
            self._seen[key] = now + self.window
            return True

    def release(self, key: str) -> None:
        """The call failed before its message was stored: the service's retry must be taken."""
        with self._lock:
            self._seen.pop(key, None)


def guards() -> dict[str, ReplayGuard]:
    return {service: ReplayGuard(period + SKEW) for service, period in RETRY_PERIODS.items()}


def fresh(service: str, timestamp: str, now: float) -> None:
    """Refuse a signed timestamp from the future or older than the service's retry period."""
    try:
        signed = float(timestamp)
    except ValueError as exc:
        raise Refused("malformed", "timestamp is not a number") from exc
    if not now - RETRY_PERIODS[service] - SKEW <= signed <= now + SKEW:
        raise Refused("stale", f"signed at {signed:.0f}, now {now:.0f}")


def accept(engine: Engine, settings: Settings, delivery: Delivery, guard: ReplayGuard, now: float, *,
           tls: bool = False) -> int:
    """Store a verified delivery in the spool (committed); returns its spool id. Refused, or any failure
    of the database (the caller answers "retry"; the delivery id is then free for the retry)."""
    if len(delivery.raw) > settings.smtp.max_message_bytes:
        raise Refused("too_large", f"{len(delivery.raw)} bytes, at most {settings.smtp.max_message_bytes}")
    if not guard.claim(delivery.delivery_id, now):
        raise Refused("replayed", f"{delivery.service} delivery {delivery.delivery_id[:80]} was taken before")
    try:
        accepted, refusals = _dropbox_recipients(engine, settings.dropbox, delivery.recipients)
        if not accepted:
            raise Refused("no_dropbox_recipient", "; ".join(refusals)[:300] or "no recipient given")
        trace = (f"Received: from {delivery.service} by {settings.smtp.hostname or settings.dropbox.domains[0]} "
                 f"with HTTPS id {delivery.delivery_id[:60]}; {formatdate(now)}\r\n").encode()
        return spool.store(engine, spool.Received(
            raw=trace + with_crlf(delivery.raw), mail_from=delivery.mail_from, rcpt_tos=tuple(accepted),
            peer_ip=delivery.sender_ip, helo="", tls=tls))
    except Refused:
        raise  # the same call again would be refused again
    except BaseException:
        guard.release(delivery.delivery_id)
        raise


def _dropbox_recipients(engine: Engine, settings: DropboxSettings,
                        recipients: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """The recipients `RCPT TO` would take, and the answers it would give the others."""
    accepted, refusals = [], []
    with transaction(engine) as session:
        repo = SqlRepository(session)
        for address in list(dict.fromkeys(r.strip().lower() for r in recipients if r.strip()))[:MAX_RECIPIENTS]:
            reply = recipient_reply(repo, settings, address)
            if reply is None:
                accepted.append(address)
            else:
                refusals.append(reply)
    return accepted, refusals


def with_crlf(raw: bytes) -> bytes:
    """Lines ending CRLF as on the wire: a service's copy may end them LF, which DKIM does not verify."""
    return re.sub(rb"\r?\n", b"\r\n", raw)


# ------------------------------------------------------------------------------------------ credentials
def basic_auth_ok(authorization: str, username: str, password: str) -> bool:
    """HTTP basic auth (user:password in the webhook URL) against the configured pair, in constant time."""
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic" or not password:
        return False
    try:
        given_user, _, given_password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return False
    return hmac.compare_digest(given_user.encode(), username.encode()) & hmac.compare_digest(
        given_password.encode(), password.encode())


@lru_cache(maxsize=8)
def _ecdsa_key(text: str) -> ec.EllipticCurvePublicKey:
    data = text.strip()
    key = (serialization.load_pem_public_key(data.encode()) if data.startswith("-----BEGIN")
           else serialization.load_der_public_key(base64.b64decode(data)))
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("not an elliptic-curve public key")
    return key


def ecdsa_ok(public_key: str, signature: str, signed: bytes) -> bool:
    """SendGrid's signature: ECDSA with SHA-256 over timestamp + body, base64 of DER, checked with the policy's
    public key (base64 DER as SendGrid shows it, or PEM)."""
    try:
        _ecdsa_key(public_key).verify(base64.b64decode(signature, validate=True), signed, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


# ------------------------------------------------------------------------------------------ payloads
def form_fields(content_type: str, body: bytes) -> dict[str, bytes]:
    """The fields of a form post, byte for byte (the raw MIME must not be decoded and re-encoded): the first
    value of each name. multipart/form-data is split at its boundary (RFC 7578), not parsed as mail."""
    kind, _, params = content_type.partition(";")
    kind = kind.strip().lower()
    if kind == "application/x-www-form-urlencoded":
        fields: dict[str, bytes] = {}
        for name, _, value in (pair.partition(b"=") for pair in body.split(b"&") if pair):
            key = unquote_to_bytes(name.replace(b"+", b" ")).decode("utf-8", "replace")
            fields.setdefault(key, unquote_to_bytes(value.replace(b"+", b" ")))
        return fields
    boundary = next((v.strip().strip('"') for k, _, v in (p.strip().partition("=") for p in params.split(";"))
                     if k.lower() == "boundary"), "")
    if kind != "multipart/form-data" or not boundary:
        raise Refused("malformed", f"a form was expected, not {kind or 'nothing'}")
    return _multipart(body, boundary.encode("latin-1"))


def _multipart(body: bytes, boundary: bytes) -> dict[str, bytes]:
    fields: dict[str, bytes] = {}
    for chunk in body.split(b"--" + boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        head, separator, content = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not separator:
            continue
        name = BytesHeaderParser().parsebytes(head + b"\r\n\r\n").get_param("name", header="content-disposition")
        if isinstance(name, str):
            fields.setdefault(name, content.removesuffix(b"\r\n"))  # that CRLF belongs to the next boundary
    return fields


def text(fields: Mapping[str, bytes], name: str) -> str:
    return fields.get(name, b"").decode("utf-8", "replace").strip()


def json_object(body: bytes) -> dict:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise Refused("malformed", "the body is not JSON") from exc
    if not isinstance(payload, dict):
        raise Refused("malformed", "the body is not a JSON object")
    return payload


def digest(*parts: bytes) -> str:
    return hashlib.sha256(b"\0".join(parts)).hexdigest()


def ip_or_empty(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return ""


def envelope_sender(value: str) -> str:
    """An envelope sender as reported (``<a@b>``, ``a@b``, ``<>``): the address, "" for the null sender."""
    return parseaddr(value.strip())[1].lower() if value.strip() not in ("", "<>") else ""


def in_dropbox(addresses: list[str], settings: DropboxSettings) -> list[str]:
    return [a for a in addresses if a and is_dropbox_domain(a, settings)]


def enabled(service: str, settings: InboundSettings) -> bool:
    return {"postmark": bool(settings.postmark_password), "mailgun": bool(settings.mailgun_signing_key),
            "sendgrid": bool(settings.sendgrid_password or settings.sendgrid_public_key),
            "ses": bool(settings.ses_topic_arns)}.get(service, False)
