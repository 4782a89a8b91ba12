"""The DNS behind sender authentication: one dnspython resolver, shaped for each library that asks.

dkimpy takes a ``dnsfunc`` and pyspf a query object; both default to the process-wide resolver,
which cannot be pointed at a given server without changing it for everybody. `Dns` owns its own
`dns.resolver.Resolver` (the system's, or ``smtp.resolver`` = ``host[:port]``, as tests and the demo
use a loopback server) with a cache, and answers in the shape each library expects.
"""

from __future__ import annotations

from typing import Any

import dkim
import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver
import spf


class DnsTemporaryError(Exception):
    """The server did not answer (timeout, SERVFAIL): the verdict would be a guess, so try later."""


class Dns:
    def __init__(self, server: str = "", timeout: float = 5.0) -> None:
        if server:
            host, _, port = server.rpartition(":") if server.count(":") == 1 else (server, "", "")
            self.resolver = dns.resolver.Resolver(configure=False)
            self.resolver.nameservers = [host]
            self.resolver.port = int(port) if port else 53
        else:
            self.resolver = dns.resolver.Resolver()
        self.resolver.lifetime = timeout
        self.resolver.cache = dns.resolver.LRUCache(10_000)

    def records(self, name: str, qtype: str) -> list[Any]:
        """The rdata of ``name``/``qtype``; [] when the name or the type does not exist."""
        try:
            answer = self.resolver.resolve(name.rstrip(".") + ".", qtype, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.name.EmptyLabel, dns.name.LabelTooLong):
            return []
        except (dns.resolver.NoNameservers, dns.exception.Timeout) as exc:
            raise DnsTemporaryError(f"DNS {qtype} {name}: {type(exc).__name__}") from exc
        return list(answer)

    def txt(self, name: str) -> list[str]:
        """Each TXT record of ``name`` with its strings joined (long DKIM keys come split in 255-byte strings)."""
        return [b"".join(r.strings).decode("utf-8", "replace") for r in self.records(name, "TXT")]

    def dkim_txt(self, name: bytes | str, timeout: float = 5) -> bytes | None:
        """dkimpy's ``dnsfunc``: the first TXT record, or None."""
        text = name.decode("ascii", "replace") if isinstance(name, bytes) else name
        try:
            found = self.records(text, "TXT")
        except DnsTemporaryError as exc:
            raise dkim.DnsTimeoutError(str(exc)) from exc
        return b"".join(found[0].strings) if found else None

    def spf_lookup(self, name: str, qtype: str) -> list[Any]:
        """pyspf's DNSLookup, answering in its shapes; a server that does not answer is an SPF temperror."""
        try:
            found = self.records(name, qtype)
        except DnsTemporaryError as exc:
            raise spf.TempError(str(exc)) from exc
        if qtype in ("A", "AAAA"):
            return [r.address for r in found]
        if qtype == "MX":
            return [(r.preference, r.exchange) for r in found]
        if qtype == "PTR":
            return [r.target.to_text(True) for r in found]
        return [r.strings for r in found]  # TXT / SPF: the character strings, as pyspf joins them itself
