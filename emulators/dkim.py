"""A sending domain's DNS on loopback: DKIM keys whose public halves a DNS server publishes with SPF and DMARC.

The SMTP dropbox believes a `From:` only when its domain vouches for the message, so the demo and the
tests need a domain that does: `SigningKey` signs a message the way the firm's outbound server would,
and `DnsServer` answers the look-ups `connector.dropbox.authentication` makes (TXT for SPF, DKIM and
DMARC), splitting long values into 255-byte strings as real zones do (2048-bit keys).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import dkim
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from emulators.dns import TxtServer


class DnsServer(TxtServer):
    """The emulators' TXT server, splitting long values into 255-byte strings as real zones do."""

    def _answer(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        question = query.question[0]
        name = question.name.to_text().rstrip(".").lower()
        if name not in self.records:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif question.rdtype == dns.rdatatype.TXT:
            quoted = [" ".join(f'"{v[i:i + 255]}"' for i in range(0, len(v), 255)) for v in self.records[name]]
            response.answer.append(dns.rrset.from_text(question.name, 60, "IN", "TXT", *quoted))
        return response

    @property
    def address(self) -> str:
        """``host:port``, as ``smtp.resolver`` takes it."""
        return f"{self.host}:{self.port}"


@dataclass
class SigningKey:
    domain: str
    selector: str = "sel"
    private_pem: bytes = b""
    txt: str = ""

    @classmethod
    def make(cls, domain: str, selector: str = "sel") -> SigningKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                        serialization.NoEncryption())
        public_der = key.public_key().public_bytes(serialization.Encoding.DER,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
        return cls(domain, selector, private_pem, f"v=DKIM1; k=rsa; p={base64.b64encode(public_der).decode()}")

    @property
    def record(self) -> tuple[str, str]:
        """The TXT record publishing the public half: (name, value)."""
        return f"{self.selector}._domainkey.{self.domain}", self.txt

    def sign(self, raw: bytes) -> bytes:
        raw = crlf(raw)
        signature = dkim.sign(raw, self.selector.encode(), self.domain.encode(), self.private_pem,
                              include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
        return signature + raw


def crlf(raw: bytes) -> bytes:
    """Lines as SMTP carries them (the email package writes LF; smtplib sends bytes unchanged)."""
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def zone(keys: list[SigningKey], records: dict[str, list[str]]) -> dict[str, list[str]]:
    """``records`` plus each key's DKIM record: what a DnsServer is started with."""
    published = {name: list(values) for name, values in records.items()}
    for key in keys:
        name, value = key.record
        published.setdefault(name, []).append(value)
    return published
