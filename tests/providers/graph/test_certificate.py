"""Certificate credentials (Microsoft recommends them over client secrets, which expire): the app proves itself
with a client assertion msal signs with the certificate's key; a certificate the registration does not hold is
refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from connector.config import load_settings
from connector.errors import ProviderError
from connector.ports import MailboxRef
from providers.graph.adapter import GraphProvider
from tests.providers.graph.conftest import CLIENT_ID, TENANT, Seeded


def _certificate(path: Path) -> str:
    """A self-signed certificate and its key in one PEM file, as an admin exports it; returns the certificate."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bcc-capture")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365)).sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    path.write_bytes(key_pem + cert_pem)
    return cert_pem.decode()


def _provider(seeded: Seeded, certificate_file: Path) -> GraphProvider:
    settings = load_settings(graph={"client_id": CLIENT_ID, "client_certificate_file": str(certificate_file),
                                    "tenant": TENANT, "authority_host": seeded.urls.authority_host,
                                    "graph_url": seeded.urls.graph_url, "ca_bundle": seeded.urls.ca_path})
    return GraphProvider(settings, clock=datetime.now)


def _tenant_wide(address: str) -> MailboxRef:
    return MailboxRef(1, address, credentials=json.dumps({"tenant_id": TENANT}), app_only=True)


def test_tenant_wide_access_with_a_certificate_instead_of_a_secret(seeded: Seeded, tmp_path: Path) -> None:
    seeded.emulator.add_certificate(CLIENT_ID, _certificate(tmp_path / "app.pem"))
    seeded.emulator.grant_admin_consent(TENANT, CLIENT_ID)
    cursor = _provider(seeded, tmp_path / "app.pem").start_cursor(_tenant_wide("alice@contoso.com"))
    inbox = seeded.emulator.world.folder(seeded.alice.id, "inbox")
    assert inbox is not None and inbox.id in json.loads(cursor)["links"]  # Alice's mailbox was read with the app token


def test_a_certificate_the_registration_does_not_hold_is_refused(seeded: Seeded, tmp_path: Path) -> None:
    seeded.emulator.add_certificate(CLIENT_ID, _certificate(tmp_path / "registered.pem"))
    _certificate(tmp_path / "stolen.pem")  # another key pair, never uploaded
    seeded.emulator.grant_admin_consent(TENANT, CLIENT_ID)
    with pytest.raises(ProviderError):
        _provider(seeded, tmp_path / "stolen.pem").start_cursor(_tenant_wide("alice@contoso.com"))
