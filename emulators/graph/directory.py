"""``GET /users?$filter=…``: finding a directory user by an address, as tenant-wide access must.

A user's mailbox address is not necessarily her ``userPrincipalName``; ``GET /users/{key}`` answers only an
object id or a UPN, so a client that knows an address filters the collection instead. Graph documents, for
the user resource, ``mail`` and ``userPrincipalName`` as supporting ``$filter`` with ``eq`` and
``proxyAddresses`` with ``eq`` through the ``any`` lambda operator (multi-valued property) without advanced
query parameters, string comparisons being case-insensitive:
https://learn.microsoft.com/en-us/graph/api/resources/user#properties and
https://learn.microsoft.com/en-us/graph/filter-query-parameter#operators-and-functions-supported-in-filter-expressions.
Anything else answers 400 ``Request_UnsupportedQuery``, as the directory does for filters it cannot run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from .odata import QueryError
from .state import User

_LITERAL = r"'((?:[^']|'')*)'"
_CLAUSES = {
    "mail": re.compile(rf"^mail\s+eq\s+{_LITERAL}$", re.IGNORECASE),
    "upn": re.compile(rf"^userPrincipalName\s+eq\s+{_LITERAL}$", re.IGNORECASE),
    "proxy": re.compile(rf"^proxyAddresses/any\(\s*(\w+)\s*:\s*\1\s+eq\s+{_LITERAL}\s*\)$", re.IGNORECASE),
}


def filter_users(users: Iterable[User], expression: str | None) -> list[User]:
    """The users matching ``expression`` (clauses joined by ``or``); every user without a filter."""
    if not expression:
        return list(users)
    tests = [_clause(part.strip()) for part in re.split(r"\s+or\s+", expression.strip(), flags=re.IGNORECASE)]
    return [user for user in users if any(test(user) for test in tests)]


def _clause(text: str) -> Callable[[User], bool]:
    if m := _CLAUSES["mail"].match(text):
        wanted = _unquote(m.group(1))
        return lambda user: user.address == wanted
    if m := _CLAUSES["upn"].match(text):
        wanted = _unquote(m.group(1))
        return lambda user: user.principal_name == wanted
    if m := _CLAUSES["proxy"].match(text):
        wanted = _unquote(m.group(2))
        return lambda user: wanted in _proxy_addresses(user)
    raise QueryError("Request_UnsupportedQuery", f"Unsupported or invalid query filter clause specified: {text}")


def _unquote(literal: str) -> str:
    return literal.replace("''", "'").lower()


def _proxy_addresses(user: User) -> set[str]:
    """``proxyAddresses`` as Graph lists them: ``SMTP:`` the primary address, ``smtp:`` each alias (compared
    case-insensitively, prefix included)."""
    return {f"smtp:{user.address}", *(f"smtp:{alias}" for alias in user.aliases)}
