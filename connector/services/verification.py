"""Verification codes for extra sender addresses (F8): issued, stored and checked.

A six-digit code has only a million values, so what protects it is everything around it: it expires
after `CODE_LIFETIME`, allows `MAX_ATTEMPTS` wrong guesses, a user is issued at most `MAX_CODES_PER_DAY`
codes (removing and re-adding an address buys no fresh guesses), and it is stored salted and hashed
with scrypt so a copy of the database does not give live codes away in seconds. The code itself is
handed to the caller once, to deliver; nothing here logs it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col

from connector.errors import InputError
from connector.models import SenderAddress, User

CODE_LIFETIME = timedelta(minutes=15)
MAX_ATTEMPTS = 5
MAX_CODES_PER_DAY = 10
CODES_WINDOW = timedelta(hours=24)
# scrypt at n=2**14, r=8: 16 MiB and some tens of milliseconds a check (RFC 7914's interactive setting).
_N, _R, _P = 2**14, 8, 1


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _digest(code: str, salt: bytes) -> bytes:
    return hashlib.scrypt(code.encode(), salt=salt, n=_N, r=_R, p=_P, maxmem=64 * 1024 * 1024, dklen=32)


def hash_code(code: str) -> str:
    salt = secrets.token_bytes(16)
    return f"scrypt${_b64(salt)}${_b64(_digest(code, salt))}"


def code_matches(stored: str, code: str) -> bool:
    scheme, _, rest = stored.partition("$")
    salt_text, _, digest_text = rest.partition("$")
    if scheme != "scrypt" or not salt_text or not digest_text:
        return False  # no live code (or one from before codes were salted): nothing matches
    salt = base64.urlsafe_b64decode(salt_text + "=" * (-len(salt_text) % 4))
    return hmac.compare_digest(_b64(_digest(code, salt)), digest_text)


def issue(user: User, row: SenderAddress, now: datetime) -> str:
    """A new code for ``row`` (the previous one stops working); counts against the user's daily codes."""
    if user.codes_since is None or now - user.codes_since >= CODES_WINDOW:
        user.codes_since, user.codes_sent = now, 0
    if user.codes_sent >= MAX_CODES_PER_DAY:
        raise InputError(f"at most {MAX_CODES_PER_DAY} verification codes a day: try again tomorrow")
    user.codes_sent += 1
    code = f"{secrets.randbelow(10**6):06d}"
    row.code_hash, row.code_attempts, row.code_expires_at = hash_code(code), 0, now + CODE_LIFETIME
    return code


class WrongCode(InputError):
    """A wrong code: its attempt is counted in the session, which the caller commits before showing the error."""


def check(session: Session, row: SenderAddress, code: str, now: datetime) -> None:
    """Raise InputError unless ``code`` is ``row``'s live code; every guess uses up one of its attempts.

    The attempt is taken before the code is compared, by one conditional UPDATE: parallel guesses wait for
    each other's row lock and cannot each see attempts to spare.
    """
    if not row.code_hash or row.code_expires_at is None or now >= row.code_expires_at:
        raise InputError(f"the code for {row.email} has expired: ask for a new one")
    taken = session.exec(update(SenderAddress).where(  # type: ignore[call-overload]
        col(SenderAddress.id) == row.id, col(SenderAddress.code_attempts) < MAX_ATTEMPTS)
        .values(code_attempts=col(SenderAddress.code_attempts) + 1)).rowcount
    if not taken:
        raise InputError(f"too many wrong codes for {row.email}: ask for a new one")
    if not code_matches(row.code_hash, code.strip()):
        raise WrongCode(f"wrong verification code for {row.email}")
    row.code_hash, row.code_expires_at = "", None  # used up
