"""Proving a company owns its domain with a DNS TXT record (F7, level 1).

The admin publishes ``bcc-capture-verification=<token>`` as a TXT record on the domain itself.
Look-ups go through the small `TxtResolver` interface; production uses dnspython.
"""

from __future__ import annotations

from typing import Protocol

from connector.errors import DnsVerificationError

TXT_PREFIX = "bcc-capture-verification="


class TxtResolver(Protocol):
    def txt(self, name: str) -> list[str]:
        """Every TXT string at ``name``; DnsVerificationError with the DNS error otherwise."""


class DnsPythonResolver:
    """dnspython, imported on first use: most commands that load this module never look anything up."""

    def __init__(self, nameservers: list[str] | None = None, port: int = 53, lifetime: float = 5.0) -> None:
        import dns.resolver

        self._resolver = dns.resolver.Resolver(configure=nameservers is None)
        if nameservers is not None:
            self._resolver.nameservers = nameservers
            self._resolver.port = port
        self._resolver.lifetime = lifetime

    def txt(self, name: str) -> list[str]:
        import dns.exception
        import dns.resolver

        try:
            answer = self._resolver.resolve(name, "TXT")
        except dns.resolver.NXDOMAIN as exc:
            raise DnsVerificationError(f"{name} does not exist (NXDOMAIN)") from exc
        except dns.resolver.NoAnswer as exc:
            raise DnsVerificationError(f"{name} has no TXT records") from exc
        except dns.resolver.NoNameservers as exc:
            raise DnsVerificationError(f"no name server answered for {name}: {exc}") from exc
        except dns.exception.Timeout as exc:
            raise DnsVerificationError(f"DNS look-up of {name} timed out") from exc
        return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer]


def expected_record(token: str) -> str:
    return f"{TXT_PREFIX}{token}"


def verify_txt(resolver: TxtResolver, domain: str, token: str) -> None:
    """Raise DnsVerificationError, saying what was found, unless the expected record is there."""
    found = resolver.txt(domain)
    if expected_record(token) in (value.strip() for value in found):
        return
    ours = [v for v in found if v.startswith(TXT_PREFIX)]
    if ours:
        raise DnsVerificationError(f"{domain} has {ours[0]!r}, expected {expected_record(token)!r}")
    raise DnsVerificationError(f"{domain} has {len(found)} TXT record(s), none is {expected_record(token)!r}")
