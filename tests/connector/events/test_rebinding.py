"""DNS rebinding: a receiver's name answers an allowed address when the guard asks and 127.0.0.1 the next
time. The worker connects to the address the guard checked, so the service on 127.0.0.1 never hears of the
event, while the request still names the host (and, over TLS, the certificate is verified for the name).

The name is served by the project's loopback DNS server (emulators/dns.py), which hands out its answers in turn
with TTL 0. The "public" side is 127.0.0.2, allowed by ``events.allowed_networks``: a truly public address would
leave this machine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dns.exception
import dns.resolver
import httpx
import pytest
from sqlalchemy.engine import Engine

from connector.config import Settings
from connector.errors import InputError
from connector.events.settings import EventSettings
from connector.events.urls import Resolve
from emulators.dns import TxtServer
from emulators.tls import make_test_pki
from tests.conftest import World
from tests.connector.events.conftest import events_on
from tests.connector.web.receiver import Receiver, receiver

pytestmark = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
NAME = "crm.rebind.test"
ALLOWED = EventSettings(allowed_networks=("127.0.0.2/32",), timeout_seconds=5)


def resolver_of(server: TxtServer) -> Resolve:
    """The guard's resolver, asking the loopback DNS server (no cache: every attempt asks again)."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers, resolver.port, resolver.cache = ["127.0.0.1"], server.port, None

    def resolve(host: str, port: int) -> list[str]:
        try:
            return [answer.address for answer in resolver.resolve(host, "A", lifetime=2)]
        except dns.exception.DNSException as exc:
            raise InputError(f"{host} does not resolve ({exc})") from None
    return resolve


@pytest.fixture
def rebinding() -> Iterator[TxtServer]:
    with TxtServer() as server:
        yield server


@pytest.fixture
def internal() -> Iterator[Receiver]:
    """A service inside the network, on 127.0.0.1: it must never hear of the company's events."""
    with receiver("127.0.0.1") as running:
        yield running


def test_the_worker_connects_to_the_address_the_guard_checked(world: World, engine: Engine, settings: Settings,
                                                              rebinding: TxtServer, internal: Receiver) -> None:
    with receiver("127.0.0.2", internal.port) as crm:
        # asked when registering, then before the attempt; the third answer would be 127.0.0.1
        rebinding.publish_addresses(NAME, "127.0.0.2", "127.0.0.2", "127.0.0.1")
        events = events_on(engine, settings, ALLOWED, resolve_of := resolver_of(rebinding))
        crm.secret = events.register(world, f"http://{NAME}:{crm.port}/hooks", resolve=resolve_of)
        events.log_mail(1)
        [sent] = events.dispatcher.run_once()
        assert (sent.status, sent.response_code) == ("delivered", 200), sent.error
        [got] = crm.received
        assert got.headers["host"] == f"{NAME}:{crm.port}"  # the receiver is asked for by its name
        assert crm.verified[0]["data"]["subject"] == "Brief 1"
        assert internal.received == []
        assert [q for q in rebinding.asked if q[0] == NAME] == [(NAME, "A"), (NAME, "A")]  # nobody asked again

        events.log_mail(2)  # the name now answers 127.0.0.1: the guard refuses before anything is sent
        [refused] = events.dispatcher.run_once()
        assert refused.status == "pending" and "is 127.0.0.1, inside a network" in refused.error
        assert internal.received == [] and len(crm.received) == 1


def test_over_tls_the_certificate_is_verified_for_the_name_not_the_address(
        world: World, engine: Engine, settings: Settings, rebinding: TxtServer, tmp_path: Path) -> None:
    pki = make_test_pki(tmp_path, hosts=(NAME,))  # a certificate for the name only: no IP address in it
    with receiver("127.0.0.2", tls=(pki.server_cert, pki.server_key)) as crm:
        rebinding.publish_addresses(NAME, "127.0.0.2")
        trusting = httpx.HTTPTransport(verify=str(pki.ca_cert))  # the test CA instead of the public ones
        events = events_on(engine, settings, ALLOWED, resolver_of(rebinding), transport=trusting)
        crm.secret = events.register(world, f"https://{NAME}:{crm.port}/hooks", resolve=resolver_of(rebinding))
        events.log_mail(1)
        [sent] = events.dispatcher.run_once()
        assert (sent.status, sent.response_code) == ("delivered", 200), sent.error
        assert crm.verified[0]["data"]["subject"] == "Brief 1"
        assert crm.received[0].headers["host"] == f"{NAME}:{crm.port}"
