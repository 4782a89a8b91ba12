"""Certificate credentials: a confidential client proves itself with a JWT it signed with its certificate's key.

As the Microsoft identity platform documents ("Microsoft identity platform application authentication certificate
credentials"): ``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`` and a
``client_assertion`` signed with RS256 or PS256, whose header names the certificate by ``x5t#S256`` (SHA-256
thumbprint, base64url) or ``x5t`` (SHA-1); ``aud`` is the token endpoint, ``iss`` and ``sub`` the client id,
``exp``/``nbf`` current, ``jti`` unique. A certificate must be uploaded to the app registration first.
"""

from __future__ import annotations

import base64

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from .tokens import GrantError

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def thumbprints(certificate_pem: str) -> tuple[str, str]:
    """(x5t#S256, x5t) of a certificate as they appear in an assertion's header."""
    cert = x509.load_pem_x509_certificate(certificate_pem.encode())
    return (base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA256())).rstrip(b"=").decode(),
            base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA1())).rstrip(b"=").decode())


def verify(assertion: str, client_id: str, certificates: list[str], token_endpoint: str, seen: set[str]) -> None:
    """Raise GrantError unless ``assertion`` was signed by one of the app's certificates, for this endpoint."""
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError as exc:
        raise GrantError("invalid_client", 700027, f"AADSTS700027: Client assertion is malformed: {exc}",
                         status=401) from exc
    named = str(header.get("x5t#S256") or header.get("x5t") or "").rstrip("=")  # padded or not: both are seen
    match = next((pem for pem in certificates if named in thumbprints(pem)), None)
    if match is None:
        raise GrantError("invalid_client", 700027, "AADSTS700027: The certificate with identifier used to sign the "
                         f"client assertion is not registered on application {client_id}.", status=401)
    key = x509.load_pem_x509_certificate(match.encode()).public_key()
    try:
        claims = jwt.decode(assertion, key, algorithms=["RS256", "PS256"], audience=token_endpoint,
                            issuer=client_id, options={"require": ["exp", "aud", "iss", "sub", "jti"]})
    except jwt.PyJWTError as exc:
        raise GrantError("invalid_client", 700027, f"AADSTS700027: Client assertion failed signature validation "
                         f"or its claims are wrong: {exc}", status=401) from exc
    if claims["sub"] != client_id or claims["jti"] in seen:
        raise GrantError("invalid_client", 700027, "AADSTS700027: The client assertion's subject is not the client "
                         "or it was replayed.", status=401)
    seen.add(claims["jti"])
