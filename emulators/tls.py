"""A throwaway certificate authority for the loopback emulators.

msal only accepts ``https`` authorities, so the Graph emulator serves its identity endpoints over
TLS. `make_test_pki()` writes a fresh CA and a server certificate for ``localhost``/``127.0.0.1``
(and ``::1``) to a temporary directory and returns the paths; clients trust ``ca_cert`` only
(``requests.Session.verify = ca_cert``, ``httpx.Client(verify=ca_cert)``), never the system store.

Keys are ECDSA P-256: generating them takes milliseconds, which keeps test fixtures fast. The
material is meant for loopback tests and demos only; nothing here is fit for production.
"""

from __future__ import annotations

import atexit
import datetime as dt
import ipaddress
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class TlsMaterial:
    directory: Path
    ca_cert: Path  # PEM; what clients verify against
    server_cert: Path  # PEM chain: server certificate, then the CA
    server_key: Path  # PEM, unencrypted


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "bcc-capture emulator"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _san(hosts: tuple[str, ...]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def make_test_pki(directory: Path | None = None, hosts: tuple[str, ...] = DEFAULT_HOSTS) -> TlsMaterial:
    """Create a CA and a server certificate for ``hosts``; write them as PEM files."""
    target = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="bcc-capture-tls-"))
    target.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    # Back-date a little so a client whose clock lags by a minute still accepts the chain.
    not_before, not_after = now - dt.timedelta(hours=1), now + dt.timedelta(days=30)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("bcc-capture test CA"))
        .issuer_name(_name("bcc-capture test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0]))
        .issuer_name(ca_cert.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_san(hosts), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    pem = serialization.Encoding.PEM
    material = TlsMaterial(
        directory=target,
        ca_cert=target / "ca.pem",
        server_cert=target / "server.pem",
        server_key=target / "server-key.pem",
    )
    material.ca_cert.write_bytes(ca_cert.public_bytes(pem))
    material.server_cert.write_bytes(server_cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    material.server_key.write_bytes(
        server_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    material.server_key.chmod(0o600)
    return material


_shared: TlsMaterial | None = None
_shared_lock = threading.Lock()
_keep = False


def shared_test_pki() -> TlsMaterial:
    """One CA per process, so emulators started side by side are trusted by the same bundle. Its directory is
    removed when the process exits (Ctrl-C included; a SIGTERM handler must turn the signal into an exit, see
    `exit_on_sigterm`), unless `keep_shared_test_pki` was called."""
    global _shared
    with _shared_lock:
        if _shared is None or not _shared.ca_cert.exists():
            _shared = make_test_pki()
            atexit.register(_remove, _shared.directory)
        return _shared


def keep_shared_test_pki() -> None:
    """Leave this process's CA directory behind at exit (a browser told to trust it keeps working)."""
    global _keep
    _keep = True


def exit_on_sigterm() -> None:
    """SIGTERM ends the process as Ctrl-C does, running ``finally`` blocks and the clean-up at exit."""
    import signal
    import sys

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def _remove(directory: Path) -> None:
    if not _keep:
        shutil.rmtree(directory, ignore_errors=True)
