"""One exception tree for the whole connector.

    ConnectorError
    ├── ConfigError              settings missing or wrong (names the key)
    ├── DatabaseNotMigrated      the schema is behind the code: run `bcc-capture db upgrade`
    ├── InputError               a user or caller asked for something invalid (CLI/API → clear message)
    │   ├── NotFound             the thing named does not exist (or is another tenant's)
    │   ├── Conflict             it clashes with what exists (a number or address another record holds)
    │   └── SignInFailed         an identity provider did not sign the person in (message for them)
    ├── MimeError                bytes that cannot be read as an RFC 5322 message
    ├── DnsVerificationError     the TXT record proving a domain is missing or wrong
    ├── WebhookRejected          a forged, replayed or malformed provider notification
    └── ProviderError            a mail provider failed; providers translate their SDK's exceptions
        ├── Throttled            429/503 or quota: retry after ``retry_after`` seconds
        ├── TransientError       5xx, timeouts, dropped connections: retry with backoff
        │   └── TimedOut         no whole answer within the time sized for the work: ask for less
        ├── TokenExpired         access token expired: refresh, then retry
        ├── GrantRevoked         consent revoked / refresh token dead: needs reconnect
        ├── CursorExpired        delta token / history id too old: bounded resync
        └── PermanentError       anything else: fail, audit, do not retry

When one call fails in several ways at once (a batch whose items fail differently), `most_severe`
picks the one error it raises, in the same order on every provider: the failure no retry can fix
first (a revoked grant, then a permanent error, an expired cursor, an expired token), then
throttling with the longest Retry-After, then transient errors.

Providers import only this module, the envelope and the ports (`connector.ports`) from the core.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from dataclasses import dataclass


class ConnectorError(Exception):
    """Base of every error the connector raises on purpose."""


class ConfigError(ConnectorError):
    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"setting {key!r}: {problem}")
        self.key = key


class DatabaseNotMigrated(ConnectorError):
    pass


class InputError(ConnectorError):
    pass


class NotFound(InputError):
    pass


class Conflict(InputError):
    """What was asked contradicts what exists: the API answers 409."""


class SignInFailed(InputError):
    """A message for the person signing in."""


def declined(who: str, params: dict[str, str]) -> str:
    """The sentence for an OAuth redirect that came back with ``error=…``."""
    if params.get("error") == "access_denied":
        return f"Sign-in with {who} was cancelled."
    return f"{who} did not sign you in: {params.get('error_description') or params['error']}"


class MimeError(ConnectorError):
    """Raised by `connector.mail.mime.parse` for bytes that are not a usable message."""


class DnsVerificationError(ConnectorError):
    pass


class WebhookRejected(ConnectorError):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class ProviderError(ConnectorError):
    def __init__(self, message: str = "", *, endpoint: str = "", status: int | None = None) -> None:
        super().__init__(message or self.__class__.__name__)
        self.endpoint = endpoint
        self.status = status


class Throttled(ProviderError):
    def __init__(self, message: str = "", *, retry_after: float = 1.0, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class TransientError(ProviderError):
    pass


class TimedOut(TransientError):
    """The provider did not answer in full within the time sized for the call (a slow page): the sync asks
    this mailbox for smaller pages next (`connector.sync.pacing`)."""


class TokenExpired(ProviderError):
    pass


class GrantRevoked(ProviderError):
    pass


class CursorExpired(ProviderError):
    pass


class PermanentError(ProviderError):
    pass


SEVERITY: tuple[type[ProviderError], ...] = (GrantRevoked, PermanentError, CursorExpired, TokenExpired, Throttled,
                                             TransientError)


def most_severe(errors: Sequence[ProviderError]) -> ProviderError:
    """The one error to raise for several failures: the kind highest in SEVERITY, the longest Retry-After."""
    def rank(error: ProviderError) -> tuple[int, float]:
        index = next((i for i, kind in enumerate(SEVERITY) if isinstance(error, kind)), len(SEVERITY))
        return index, -error.retry_after if isinstance(error, Throttled) else 0.0
    return min(errors, key=rank)


ANY_STATUS = range(100, 600)


@dataclass(frozen=True)
class StatusRule:
    """One row of a provider client's table from an HTTP error answer to the error it raises.

    A row matches when the status is among ``statuses``, one of the answer's error codes/reasons (lower
    case) is in ``codes`` (or ``codes`` is empty), and the call went to ``endpoint`` (or it is empty).
    """

    kind: type[ProviderError]
    statuses: Container[int] = ANY_STATUS
    codes: frozenset[str] = frozenset()
    endpoint: str = ""

    def matches(self, status: int, codes: set[str], endpoint: str) -> bool:
        return (status in self.statuses and (not self.codes or bool(self.codes & codes))
                and (not self.endpoint or self.endpoint == endpoint))


def error_kind(rules: Sequence[StatusRule], status: int, codes: set[str], endpoint: str) -> type[ProviderError]:
    """The kind of the first row that matches; PermanentError when none does."""
    return next((rule.kind for rule in rules if rule.matches(status, codes, endpoint)), PermanentError)
