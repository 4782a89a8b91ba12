"""Encryption at rest for OAuth tokens and stored mail (Fernet: AES-128-CBC + HMAC-SHA256, from `cryptography`).

The key comes from ``BCC_CAPTURE_SECRET_KEY`` (or the file ``BCC_CAPTURE_SECRET_KEY_FILE`` names). It
may list several keys, comma-separated, newest first: new tokens are encrypted with the first, stored
ones are read with any (`MultiFernet`), and `bcc-capture secret rotate` re-encrypts them all with the
first so the old keys can be dropped. Raw messages and attachments are sealed with each company's own key
(`CompanyCipher`), derived from the same keys. In development mode a key is generated once and kept in
``var/dev-secret.key`` so the demo needs no set-up; production refuses to start without one.
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from connector.config import Mode, Settings
from connector.errors import ConfigError

DEV_KEY_FILE = Path("var/dev-secret.key")


def secret_key(settings: Settings) -> bytes:
    if settings.secret_key:
        return settings.secret_key.encode()
    if settings.mode is Mode.PRODUCTION:
        raise ConfigError("secret_key", "is required in production mode: set BCC_CAPTURE_SECRET_KEY")
    if not DEV_KEY_FILE.exists():
        DEV_KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
        DEV_KEY_FILE.write_bytes(Fernet.generate_key())
        DEV_KEY_FILE.chmod(0o600)
        # Not silent: tokens encrypted with this key are unreadable from a directory with another one.
        print(f"note: generated a development key at {DEV_KEY_FILE.resolve()} (set BCC_CAPTURE_SECRET_KEY to "
              "use the same key from anywhere)", file=sys.stderr)
    return DEV_KEY_FILE.read_bytes().strip()


def new_key() -> str:
    return Fernet.generate_key().decode()


def fernet_keys(key: bytes) -> list[bytes]:
    """The comma-separated Fernet keys in ``key`` (newest first), each checked."""
    parts = [part.strip() for part in key.split(b",") if part.strip()]
    try:
        for part in parts:
            Fernet(part)
    except (ValueError, TypeError) as exc:
        raise ConfigError("secret_key", "must be urlsafe-base64 32-byte Fernet keys, comma-separated, newest "
                          "first (make one with `bcc-capture secret new`)") from exc
    return parts


class TokenCipher:
    def __init__(self, key: bytes) -> None:
        """``key``: one Fernet key, or several comma-separated (newest first)."""
        self._fernet = MultiFernet([Fernet(part) for part in fernet_keys(key)])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ConfigError("secret_key", "cannot decrypt stored tokens: the key changed (list the old key "
                              "after the new one in BCC_CAPTURE_SECRET_KEY, then run `bcc-capture secret rotate`)"
                              ) from exc

    def rotate(self, token: str) -> str:
        """The same plaintext, encrypted with the newest key."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise ConfigError("secret_key", "cannot decrypt stored tokens: none of the keys fits") from exc

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenCipher:
        return cls(secret_key(settings))


class CompanyCipher:
    """Mail content at rest under each company's own key: for every deployment key (newest first), a Fernet
    key derived from it and the company id (HKDF-SHA256). A company's content never opens with another's key,
    and `reseal` moves it to the newest key like `TokenCipher.rotate`. Sealed content is the Fernet token's
    bytes (not its base64 text): a third smaller than the token, and never the plaintext."""

    def __init__(self, key: bytes) -> None:
        self._masters = [base64.urlsafe_b64decode(part) for part in fernet_keys(key)]
        self._companies: dict[int, MultiFernet] = {}

    def _fernet(self, tenant_id: int) -> MultiFernet:
        found = self._companies.get(tenant_id)
        if found is None:
            info = f"bcc-capture mail content, company {tenant_id}".encode()
            found = MultiFernet([Fernet(base64.urlsafe_b64encode(
                HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)))
                for master in self._masters])
            self._companies[tenant_id] = found
        return found

    def seal(self, tenant_id: int, plaintext: bytes) -> bytes:
        return base64.urlsafe_b64decode(self._fernet(tenant_id).encrypt(plaintext))

    def open(self, tenant_id: int, sealed: bytes) -> bytes:
        try:
            return self._fernet(tenant_id).decrypt(base64.urlsafe_b64encode(sealed))
        except InvalidToken as exc:
            raise ConfigError("secret_key", f"cannot decrypt company {tenant_id}'s stored mail: the key changed "
                              "(list the old key after the new one, then run `bcc-capture secret rotate`)") from exc

    def reseal(self, tenant_id: int, sealed: bytes) -> bytes:
        """The same content sealed with the newest key."""
        return self.seal(tenant_id, self.open(tenant_id, sealed))

    @classmethod
    def from_settings(cls, settings: Settings) -> CompanyCipher:
        return cls(secret_key(settings))
