"""Where events may be sent: the guard against a webhook URL used to reach inside the network (SSRF).

Only http and https, no credentials in the URL, and every address the host name resolves to must be a public
one: loopback, private, link-local (cloud metadata at 169.254.169.254), multicast and reserved addresses are
refused unless a network in ``events.allowed_networks`` holds them (a CRM on the office LAN, or 127.0.0.0/8
for tests and the demo). Checked when an endpoint is registered and again before every attempt, since a
name may resolve elsewhere later.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from connector.errors import InputError

Resolve = Callable[[str, int], list[str]]


def system_resolve(host: str, port: int) -> list[str]:
    try:
        return [str(info[4][0]) for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)]
    except socket.gaierror as exc:
        raise InputError(f"{host} does not resolve ({exc.strerror})") from None


def checked_url(url: str, allowed_networks: Iterable[str] = (), resolve: Resolve = system_resolve) -> str:
    """``url`` stripped, if events may go there; otherwise an InputError saying why."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise InputError("a webhook URL starts with https:// (or http://)")
    if not parts.hostname:
        raise InputError("the webhook URL names no host")
    if parts.username or parts.password:
        raise InputError("put no user name or password in the webhook URL: the signature authenticates each event")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InputError("the webhook URL's port is not a number from 0 to 65535") from None
    allowed = [ipaddress.ip_network(n, strict=False) for n in allowed_networks]
    for address in resolve(parts.hostname, port):
        ip = ipaddress.ip_address(address.split("%")[0])
        if not ip.is_global and not any(ip in network for network in allowed):
            raise InputError(f"{parts.hostname} is {ip}, inside a network (loopback, private or link-local): events "
                             "go only to public addresses unless events.allowed_networks lists it")
    return url
