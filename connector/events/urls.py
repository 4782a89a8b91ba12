"""Where events may be sent: the guard against a webhook URL used to reach inside the network (SSRF).

Only http and https, no credentials in the URL, and every address the host name resolves to must be a public
one: loopback, private, link-local (cloud metadata at 169.254.169.254), multicast and reserved addresses are
refused unless a network in ``events.allowed_networks`` holds them (a CRM on the office LAN, or 127.0.0.0/8
for tests and the demo). Checked when an endpoint is registered and again before every attempt, since a
name may resolve elsewhere later.

The attempt then connects to the address the guard checked (`pinned`), not to whatever the name resolves to a
moment later: otherwise a name answering a public address to the guard and 127.0.0.1 to the HTTP client (DNS
rebinding) would reach inside the network. The request still names the host (the Host header) and TLS still
sends and verifies the name (SNI, the certificate), so a receiver behind a shared address or a CDN is served
as before.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from connector.errors import InputError

Resolve = Callable[[str, int], list[str]]


def system_resolve(host: str, port: int) -> list[str]:
    try:
        return [str(info[4][0]) for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)]
    except socket.gaierror as exc:
        raise InputError(f"{host} does not resolve ({exc.strerror})") from None


@dataclass(frozen=True)
class Checked:
    url: str  # stripped
    addresses: tuple[str, ...]  # what its host resolved to, every one allowed


def checked_url(url: str, allowed_networks: Iterable[str] = (), resolve: Resolve = system_resolve) -> str:
    """``url`` stripped, if events may go there; otherwise an InputError saying why."""
    return checked(url, allowed_networks, resolve).url


def checked(url: str, allowed_networks: Iterable[str] = (), resolve: Resolve = system_resolve) -> Checked:
    """``url`` and the addresses its host resolved to, if events may go there; otherwise an InputError."""
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
    addresses = tuple(resolve(parts.hostname, port))
    if not addresses:
        raise InputError(f"{parts.hostname} does not resolve")
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if not ip.is_global and not any(ip in network for network in allowed):
            raise InputError(f"{parts.hostname} is {ip}, inside a network (loopback, private or link-local): events "
                             "go only to public addresses unless events.allowed_networks lists it")
    return Checked(url, addresses)


def pinned(target: Checked) -> tuple[str, dict[str, str], dict[str, Any]]:
    """The request that reaches the address the guard checked: the URL with that address for its host, the Host
    header naming the host, and the httpx extension that makes TLS send and verify the name (``sni_hostname``)."""
    parts = urlsplit(target.url)
    host = parts.hostname or ""
    ip = ipaddress.ip_address(target.addresses[0].split("%")[0])
    if host.strip("[]") == str(ip):  # the URL names the address itself: nothing to pin
        return target.url, {}, {}
    port = f":{parts.port}" if parts.port is not None else ""
    literal = f"[{ip}]" if ip.version == 6 else str(ip)
    url = urlunsplit((parts.scheme, literal + port, parts.path, parts.query, parts.fragment))
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return url, {"host": host + port}, extensions
