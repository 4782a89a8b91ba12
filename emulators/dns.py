"""A tiny DNS server on loopback answering TXT queries from a dict (demo and tests), and A/AAAA queries for the
names given addresses.

It lets the real dnspython resolver verify a company's domain without the internet: the demo
publishes the TXT record here, then `tenant verify --nameserver 127.0.0.1 --port N` checks it.
Addresses may be handed out in turn (`publish_addresses`), one answer per query with TTL 0, as a DNS-rebinding
attacker's server answers: the tests of the webhook URL guard need a name that resolves elsewhere the second time.
"""

from __future__ import annotations

import socket
import threading

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


class TxtServer:
    def __init__(self, records: dict[str, list[str]] | None = None, host: str = "127.0.0.1") -> None:
        self.records = {k.rstrip(".").lower(): v for k, v in (records or {}).items()}
        self.addresses: dict[str, list[str]] = {}  # name → the answers still to give, in turn (the last repeats)
        self.asked: list[tuple[str, str]] = []  # (name, type) of every query, in order
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind((host, 0))
        self._socket.settimeout(0.2)
        self.host, self.port = self._socket.getsockname()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="dev-dns", daemon=True)

    def publish(self, name: str, value: str) -> None:
        self.records.setdefault(name.rstrip(".").lower(), []).append(value)

    def publish_addresses(self, name: str, *answers: str) -> None:
        """Answer A (IPv4) or AAAA (IPv6) queries for ``name`` with ``answers`` in turn, one per query; the last
        one stays."""
        self.addresses[name.rstrip(".").lower()] = list(answers)

    def __enter__(self) -> TxtServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._socket.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self._socket.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            try:
                self._socket.sendto(self._answer(dns.message.from_wire(data)).to_wire(), peer)
            except (dns.exception.DNSException, OSError):
                continue

    def _answer(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        question = query.question[0]
        name = question.name.to_text().rstrip(".").lower()
        self.asked.append((name, dns.rdatatype.to_text(question.rdtype)))
        if name not in self.records and name not in self.addresses:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif question.rdtype == dns.rdatatype.TXT and name in self.records:
            quoted = [f'"{value}"' for value in self.records[name]]
            response.answer.append(dns.rrset.from_text(question.name, 60, "IN", "TXT", *quoted))
        elif question.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA) and self.addresses.get(name):
            self._answer_address(response, question, self.addresses[name])
        return response

    @staticmethod
    def _answer_address(response: dns.message.Message, question: dns.rrset.RRset, turns: list[str]) -> None:
        rdtype = dns.rdatatype.to_text(question.rdtype)
        if ("AAAA" if ":" in turns[0] else "A") != rdtype:
            return  # no data of that type: NOERROR with an empty answer (RFC 2308 NODATA)
        address = turns.pop(0) if len(turns) > 1 else turns[0]
        response.answer.append(dns.rrset.from_text(question.name, 0, "IN", rdtype, address))
