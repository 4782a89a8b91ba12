"""The Gmail quota units the connector spends, per method: what `GmailProvider.usage()` counts.

https://developers.google.com/workspace/gmail/api/reference/quota — since May 1, 2026 new Cloud
projects get 6,000 units per user per minute (older ones 15,000), and the per-method table changed with it:
a message or draft read (any format, metadata included) costs 20 units (5 before), a thread read 40 (10
before; as https://developer.nylas.com/docs/cookbook/email/gmail-api-quotas/ quotes the current table);
history.list, messages.list, getProfile, watch and stop are unchanged. ``gmail.quota_units`` in the settings
replaces any figure (an older project's). The Gmail emulator charges from its own copy of the table; a test
keeps the two equal.
"""

from __future__ import annotations

from collections.abc import Mapping

PER_USER_PER_MINUTE = 6_000  # Google's default for projects created on or after May 1, 2026
UNITS: dict[str, int] = {
    "gmail.users.getProfile": 1,
    "gmail.users.history.list": 2,
    "gmail.users.messages.list": 5,
    "gmail.users.messages.get": 20,
    "gmail.users.threads.get": 40,
    "gmail.users.watch": 100,
    "gmail.users.stop": 50,
}
UNLISTED_UNITS = 5  # what the emulator charges for a method its table does not name


def units_table(overrides: Mapping[str, int]) -> dict[str, int]:
    """The table with the settings' figures in place of Google's (keyed by discovery method id)."""
    return {**UNITS, **overrides}
