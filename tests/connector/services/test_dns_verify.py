"""An admin proves the company domain with a TXT record, checked by the real dnspython resolver."""

from __future__ import annotations

import pytest

from connector.errors import DnsVerificationError
from connector.services.dns_verify import DnsPythonResolver, expected_record, verify_txt
from emulators.dns import TxtServer


def test_f7_the_published_txt_record_verifies_the_domain() -> None:
    with TxtServer({"acme-law.com": ["v=spf1 -all", expected_record("tok123")]}) as dns_server:
        verify_txt(DnsPythonResolver([dns_server.host], dns_server.port), "acme-law.com", "tok123")


def test_f7_a_wrong_token_names_what_was_found() -> None:
    expected = "has 'bcc-capture-verification=old', expected"
    with TxtServer({"acme-law.com": [expected_record("old")]}) as dns_server, \
            pytest.raises(DnsVerificationError, match=expected):
        verify_txt(DnsPythonResolver([dns_server.host], dns_server.port), "acme-law.com", "new")


def test_f7_a_missing_domain_reports_nxdomain() -> None:
    with TxtServer({}) as dns_server, pytest.raises(DnsVerificationError, match="does not exist"):
        verify_txt(DnsPythonResolver([dns_server.host], dns_server.port), "nowhere.example", "tok")
