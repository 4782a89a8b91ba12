"""Encryption at rest for OAuth tokens (Fernet: AES-128-CBC + HMAC-SHA256, from `cryptography`).

The key comes from ``BCC_CAPTURE_SECRET_KEY`` (or the file ``BCC_CAPTURE_SECRET_KEY_FILE`` names). It
may list several keys, comma-separated, newest first: new tokens are encrypted with the first, stored
ones are read with any (`MultiFernet`), and `bcc-capture secret rotate` re-encrypts them all with the
first so the old keys can be dropped. In development mode a key is generated once and kept in
``var/dev-secret.key`` so the demo needs no set-up; production refuses to start without one.
"""

from __future__ import annotations

import sys
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

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


class TokenCipher:
    def __init__(self, key: bytes) -> None:
        """``key``: one Fernet key, or several comma-separated (newest first)."""
        try:
            self._fernet = MultiFernet([Fernet(part.strip()) for part in key.split(b",") if part.strip()])
        except (ValueError, TypeError) as exc:
            raise ConfigError("secret_key", "must be urlsafe-base64 32-byte Fernet keys, comma-separated, newest "
                              "first (make one with `bcc-capture secret new`)") from exc

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
