"""Is the From domain really the sender? SPF (pyspf), DKIM and ARC (dkimpy), DMARC (dmarc), one verdict.

An authorized-sender list alone believes any forged From; this module decides whether the domain in
From vouches for the message, the way DMARC (RFC 7489) defines it:

* a DMARC record is published: pass when SPF passes for an aligned MAIL FROM domain or a DKIM
  signature of an aligned domain verifies (relaxed or strict alignment as the record says);
* no DMARC record: the same test with relaxed alignment (an aligned DKIM or SPF pass), so a domain
  that publishes nothing is not thereby trusted;
* forwarded mail (a mailing list, an auto-forward) breaks SPF and often DKIM: a valid ARC chain whose
  last sealer is a forwarder the operator trusts (``smtp.trusted_arc_sealers``) may carry the DMARC
  pass that forwarder saw.

`policy_accepts` applies ``smtp.authentication`` to a verdict. A DNS server that does not answer makes
the verdict unknowable: `TemporaryAuthenticationError`, and the filer tries again later.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import getaddresses

import authres
import dkim
import dkim.util
import dmarc
import spf
from publicsuffixlist import PublicSuffixList

from connector.config import SenderAuthentication
from connector.dropbox.resolver import Dns, DnsTemporaryError

_PSL = PublicSuffixList()


class TemporaryAuthenticationError(Exception):
    """A look-up failed for now (temperror): the message is authenticated again later."""


@dataclass(frozen=True)
class Check:
    method: str  # spf | dkim | dmarc | arc
    result: str  # pass | fail | softfail | neutral | none | temperror | permerror
    properties: str = ""  # smtp.mailfrom=… / header.d=… / header.from=…
    comment: str = ""

    def text(self) -> str:
        parts = [f"{self.method}={self.result}", f"({self.comment})" if self.comment else "", self.properties]
        return " ".join(p for p in parts if p)


@dataclass(frozen=True)
class Verdict:
    authserv_id: str
    from_domain: str
    checks: tuple[Check, ...]
    dmarc_policy: str = ""  # none | quarantine | reject; "" when the domain publishes no DMARC record
    authenticated: bool = False  # the From domain vouches for the message
    by: str = ""  # dmarc | dkim | spf | arc: what authenticated it

    def summary(self) -> str:
        """An RFC 8601 Authentication-Results value."""
        return "; ".join([self.authserv_id, *(c.text() for c in self.checks)])


def policy_accepts(verdict: Verdict, mode: SenderAuthentication) -> bool:
    if mode is SenderAuthentication.OFF or verdict.authenticated:
        return True
    if mode is SenderAuthentication.DOMAIN_POLICY:
        return verdict.dmarc_policy not in ("quarantine", "reject")
    return False


def _org(domain: str) -> str:
    return _PSL.privatesuffix(domain) or domain


class _Psl:
    """The organizational-domain look-up `dmarc` asks for (its own bundles a list from 2019)."""

    @staticmethod
    def get_public_suffix(domain: str) -> str:
        return _org(domain)


class _SpfQuery(spf.query):  # type: ignore[misc]
    """pyspf's query asking our resolver: its module-wide DNSLookup would ask the system's."""

    def __init__(self, dns_: Dns, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._dns = dns_

    def dns(self, name: str, qtype: str, cnames: object = None, ignore_void: bool = False) -> list:
        key = (str(name).rstrip(".").lower(), qtype)
        if key not in self.cache:
            self.cache[key] = self._dns.spf_lookup(*key)
        result = self.cache[key]
        if not result and not ignore_void:  # RFC 7208 4.6.4, as pyspf counts them
            self.void_lookups += 1
            if self.void_lookups > spf.MAX_VOID_LOOKUPS:
                raise spf.PermError(f"Void lookup limit of {spf.MAX_VOID_LOOKUPS} exceeded")
        return result


class Authenticator:
    def __init__(self, dns_: Dns, authserv_id: str, trusted_arc_sealers: tuple[str, ...] = ()) -> None:
        self.dns = dns_
        self.authserv_id = authserv_id
        self.trusted_arc_sealers = {d.lower() for d in trusted_arc_sealers}
        self.dmarc = dmarc.DMARC(publicsuffix=_Psl())

    def verify(self, raw: bytes, *, ip: str, helo: str, mail_from: str) -> Verdict:
        from_domain = _from_domain(raw)
        spf_check = self._spf(ip, helo, mail_from)
        dkim_checks = self._dkim(raw)
        arc_check, arc_dmarc_domain = self._arc(raw)
        checks = (spf_check, *dkim_checks)
        record = self._dmarc_record(from_domain) if from_domain else None
        policy, passed, by = "", False, ""
        if record is not None:
            policy, passed, by = self._dmarc_result(record, from_domain, spf_check, dkim_checks)
            dmarc_check = Check("dmarc", "pass" if passed else "fail", f"header.from={from_domain}", f"p={policy}")
        else:
            passed, by = self._aligned_without_dmarc(from_domain, spf_check, dkim_checks)
            dmarc_check = Check("dmarc", "none", f"header.from={from_domain}" if from_domain else "")
        if not passed and from_domain and arc_dmarc_domain == from_domain:
            passed, by = True, "arc"
        if not passed and any(c.result == "temperror" for c in (*checks, arc_check)):
            raise TemporaryAuthenticationError("; ".join(c.text() for c in checks if c.result == "temperror"))
        return Verdict(self.authserv_id, from_domain, (*checks, dmarc_check, arc_check), policy, passed, by)

    # ------------------------------------------------------------------ the methods
    def _spf(self, ip: str, helo: str, mail_from: str) -> Check:
        domain = (mail_from.rpartition("@")[2] if mail_from else helo).lower()
        if not ip or not domain:
            return Check("spf", "none")
        query = _SpfQuery(self.dns, i=ip, s=mail_from, h=helo, timeout=self.dns.resolver.lifetime)
        result, _code, _explanation = query.check()
        scope = "smtp.mailfrom" if mail_from else "smtp.helo"
        return Check("spf", str(result), f"{scope}={domain}")

    def _dkim(self, raw: bytes) -> list[Check]:
        try:
            signer = dkim.DKIM(raw)
        except dkim.MessageFormatError as exc:
            return [Check("dkim", "permerror", comment=str(exc)[:80])]
        signatures = [value for name, value in signer.headers if name.lower() == b"dkim-signature"]
        checks = []
        for index, value in enumerate(signatures[:10]):  # a flood of signatures must not cost a flood of look-ups
            tags = _tags(value)
            properties = f"header.d={tags.get(b'd', b'').decode('ascii', 'replace').lower()} " \
                         f"header.s={tags.get(b's', b'').decode('ascii', 'replace')}"
            try:
                result = "pass" if signer.verify(idx=index, dnsfunc=self.dns.dkim_txt) else "fail"
            except dkim.DnsTimeoutError:
                result = "temperror"
            except dkim.DKIMException:
                result = "permerror"
            checks.append(Check("dkim", result, properties))
        return checks or [Check("dkim", "none")]

    def _arc(self, raw: bytes) -> tuple[Check, str]:
        """The ARC chain's validity and, when its last sealer is trusted, the From domain it saw pass DMARC."""
        if b"arc-seal:" not in raw[: raw.find(b"\r\n\r\n") + 1 or len(raw)].lower():
            return Check("arc", "none"), ""
        try:
            cv, results, _comment = dkim.ARC(raw).verify(dnsfunc=self.dns.dkim_txt)
        except dkim.DnsTimeoutError:
            return Check("arc", "temperror"), ""
        except dkim.DKIMException as exc:
            return Check("arc", "fail", comment=str(exc)[:80]), ""
        outcome = (cv or b"none").decode("ascii", "replace")
        if outcome != "pass" or not results:
            return Check("arc", outcome), ""
        last = max(results, key=lambda r: r.get("instance", 0))
        sealer = (last.get("as-domain") or b"").decode("ascii", "replace").lower()
        seen = _sealed_dmarc_pass(raw, last.get("instance", 0)) if sealer in self.trusted_arc_sealers else ""
        trust = "trusted" if sealer in self.trusted_arc_sealers else "untrusted"
        return Check("arc", "pass", comment=f"i={last.get('instance', 0)} sealed by {sealer}, {trust}"), seen

    # ------------------------------------------------------------------ DMARC
    def _dmarc_record(self, from_domain: str) -> str | None:
        """The DMARC record for the From domain, else for its organizational domain (RFC 7489 6.6.3)."""
        for name in dict.fromkeys((from_domain, _org(from_domain))):
            try:
                found = [t for t in self.dns.txt(f"_dmarc.{name}") if t.lower().startswith("v=dmarc1")]
            except DnsTemporaryError as exc:
                raise TemporaryAuthenticationError(str(exc)) from exc
            if len(found) == 1:
                return found[0]
        return None

    def _dmarc_result(self, record: str, from_domain: str, spf_check: Check,
                      dkim_checks: list[Check]) -> tuple[str, bool, str]:
        org = _org(from_domain)
        try:
            policy = self.dmarc.parse_record(record, domain=from_domain,
                                             org_domain=org if org != from_domain else None)
        except dmarc.RecordSyntaxError:
            return "invalid", *self._aligned_without_dmarc(from_domain, spf_check, dkim_checks)
        spf_domain = spf_check.properties.partition("=")[2]
        results = dmarc.AuthResults(
            spf=dmarc.SPFAuthResult(spf_domain, dmarc.SPFResult(spf_check.result)) if spf_domain else None,
            dkim=[dmarc.DKIMAuthResult(_dkim_domain(c), dmarc.DKIMResult.PASS)
                  for c in dkim_checks if c.result == "pass"])
        result = self.dmarc.get_result(policy, auth_results=results)
        disposition = policy.sp if org != from_domain and policy.sp.value else policy.p
        passed = result.result is dmarc.DMARCResult.PASS
        by = "dkim" if result.dkim is dmarc.DMARCResult.PASS else "spf" if passed else ""
        return str(disposition.value or "none"), passed, by

    def _aligned_without_dmarc(self, from_domain: str, spf_check: Check,
                               dkim_checks: list[Check]) -> tuple[bool, str]:
        if not from_domain:
            return False, ""
        if any(c.result == "pass" and _org(_dkim_domain(c)) == _org(from_domain) for c in dkim_checks):
            return True, "dkim"
        spf_domain = spf_check.properties.partition("=")[2]
        if spf_check.result == "pass" and spf_domain and _org(spf_domain) == _org(from_domain):
            return True, "spf"
        return False, ""


def _tags(value: bytes) -> dict[bytes, bytes]:
    try:
        return dkim.util.parse_tag_value(value)
    except dkim.util.InvalidTagValueList:
        return {}


def _dkim_domain(check: Check) -> str:
    return check.properties.partition("header.d=")[2].partition(" ")[0]


def _from_domain(raw: bytes) -> str:
    """The domain of the one From address (several From addresses or none: no domain, nothing aligns)."""
    end = raw.find(b"\r\n\r\n")
    head = (raw if end < 0 else raw[:end]).decode("utf-8", "replace")
    values = [m.group(1) for m in re.finditer(r"(?im)^from:[ \t]*((?:.*)(?:\r?\n[ \t].*)*)", head)]
    addresses = [a for _, a in getaddresses(values) if "@" in a]
    if len(values) != 1 or len(addresses) != 1:
        return ""
    return addresses[0].rpartition("@")[2].strip().rstrip(">").lower()


def _sealed_dmarc_pass(raw: bytes, instance: int) -> str:
    """The From domain the ARC-Authentication-Results of ``instance`` records a DMARC pass for, else ""."""
    end = raw.find(b"\r\n\r\n")
    head = (raw if end < 0 else raw[:end]).decode("utf-8", "replace")
    for match in re.finditer(r"(?im)^arc-authentication-results:[ \t]*((?:.*)(?:\r?\n[ \t].*)*)", head):
        tag, _, results = " ".join(match.group(1).split()).partition(";")
        if tag.replace(" ", "") != f"i={instance}":
            continue
        try:
            parsed = authres.AuthenticationResultsHeader.parse(f"Authentication-Results: {results.strip()}")
        except authres.core.SyntaxError:
            return ""
        for result in parsed.results:
            if result.method == "dmarc" and result.result == "pass":
                return next((p.value.lower() for p in result.properties if (p.type, p.name) == ("header", "from")), "")
    return ""
