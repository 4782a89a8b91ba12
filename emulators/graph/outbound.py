"""The HTTP client the emulator uses to call webhook receivers (validation and notifications).

It trusts the system store plus the emulator's throwaway CA, ignores proxy variables (the targets
are loopback receivers) and is shared per CA by every emulator in the process: building an httpx
client costs ~80 ms, which adds up in test fixtures, and httpx clients are thread-safe.
"""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def outbound_client(ca_path: str | None) -> httpx.Client:
    context = ssl.create_default_context()
    if ca_path:
        context.load_verify_locations(ca_path)
    return httpx.Client(verify=context, trust_env=False, follow_redirects=False)
