"""Verification codes for extra sender addresses, as someone trying to authorize an address they do not own
would meet them: five guesses per code, fifteen minutes, ten codes a day, stored salted and slow-hashed,
never in the log — and the same answer whoever the address belongs to."""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from connector.db import transaction
from connector.models import SenderAddress, User
from connector.services import users
from connector.web.codes import LoggingCodeSender, RecordingCodeSender
from tests.conftest import FIXED_NOW
from tests.connector.web.conftest import Site, flash_of, sign_in, sqlite_only

pytestmark = sqlite_only  # forms and flows; their queries run on both databases in the records and API stories

HOME = "alice.home@example.org"


def post(client: TestClient, csrf: str, url: str, **data: str) -> list[str]:
    answer = client.post(url, data={"csrf": csrf, **data})
    assert answer.status_code == 303, answer.text
    return flash_of(client.get(answer.headers["location"]).text)


def sent(address: str) -> list[str]:
    return [f"We sent a verification code to {address}. Enter it below to authorize that address."]


def wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


def test_five_wrong_guesses_use_the_code_up(client: TestClient, site: Site) -> None:
    csrf = sign_in(client, site, "alice@acme-law.com")
    post(client, csrf, "/me/senders", email=HOME)
    code = site.codes.code_for(HOME)
    for _ in range(5):
        assert post(client, csrf, "/me/senders/verify", email=HOME, code=wrong(code)) == [
            f"Wrong verification code for {HOME}"]
    assert post(client, csrf, "/me/senders/verify", email=HOME, code=code) == [
        f"Too many wrong codes for {HOME}: ask for a new one"]
    assert post(client, csrf, "/me/senders", email=HOME) == sent(HOME)  # "Send a new code"
    fresh = site.codes.code_for(HOME)
    assert post(client, csrf, "/me/senders/verify", email=HOME, code=fresh) == [
        f"{HOME} is now an authorized sender address."]


def test_a_code_expires_after_fifteen_minutes(client: TestClient, site: Site) -> None:
    csrf = sign_in(client, site, "alice@acme-law.com")
    post(client, csrf, "/me/senders", email=HOME)
    site.context.clock = lambda: FIXED_NOW + timedelta(minutes=15)
    assert post(client, csrf, "/me/senders/verify", email=HOME, code=site.codes.code_for(HOME)) == [
        f"The code for {HOME} has expired: ask for a new one"]


def test_at_most_ten_codes_a_day_however_the_address_is_re_added(client: TestClient, site: Site) -> None:
    csrf = sign_in(client, site, "alice@acme-law.com")
    for _ in range(5):
        post(client, csrf, "/me/senders", email=HOME)
        post(client, csrf, "/me/senders", email=HOME)
        post(client, csrf, "/me/senders/remove", email=HOME)
    assert post(client, csrf, "/me/senders", email=HOME) == [
        "At most 10 verification codes a day: try again tomorrow"]
    site.context.clock = lambda: FIXED_NOW + timedelta(days=1)
    assert post(client, csrf, "/me/senders", email=HOME) == sent(HOME)


def test_codes_are_stored_salted_and_slow_hashed(client: TestClient, site: Site) -> None:
    csrf = sign_in(client, site, "alice@acme-law.com")
    for address in (HOME, "alice.old@example.org"):
        post(client, csrf, "/me/senders", email=address)
    with site.world.session() as session:
        stored = {r.email: r.code_hash for r in session.exec(select(SenderAddress))}
    for address, value in stored.items():
        code = site.codes.code_for(address)
        assert value.startswith("scrypt$") and code not in value
        assert hashlib.sha256(code.encode()).hexdigest() not in value
    with transaction(site.engine) as session:  # the same code twice is stored two ways (its own salt each time)
        alice = session.get(User, site.world.alice.id)
        assert alice is not None
        users.remove_sender(session, alice, HOME)
        again = [users.add_sender(session, alice, HOME, site.settings)[0].code_hash for _ in range(2)]
    assert again[0] != again[1]


def test_the_development_sender_never_writes_the_code_to_the_log(client: TestClient, site: Site,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    recorder = RecordingCodeSender()

    class Development(LoggingCodeSender):
        def send(self, user_email: str, address: str, code: str) -> None:
            recorder.send(user_email, address, code)
            super().send(user_email, address, code)

    site.context.code_sender = Development()
    csrf = sign_in(client, site, "alice@acme-law.com")
    with caplog.at_level(logging.DEBUG):
        assert post(client, csrf, "/me/senders", email=HOME) == sent(HOME)
    assert HOME in caplog.text and "bcc-capture user sender add alice@acme-law.com" in caplog.text
    assert recorder.code_for(HOME) not in caplog.text


def test_adding_someone_elses_address_says_nothing_about_whose_it_is(client: TestClient, site: Site) -> None:
    with transaction(site.engine) as session:  # Oscar, of the other company, has verified a personal address
        oscar = session.get(User, site.other.oscar.id)
        assert oscar is not None
        users.verify_sender(session, oscar, "oscar@home.example",
                            users.add_sender(session, oscar, "oscar@home.example", site.settings)[1])
    csrf = sign_in(client, site, "alice@acme-law.com")
    for address in ("oscar@other.example", "oscar@home.example", "bob@acme-law.com", "nobody@free.example"):
        assert post(client, csrf, "/me/senders", email=address) == sent(address)  # whoever's it is
    # Only someone who reads that mailbox gets further, and even then the address stays its owner's.
    assert post(client, csrf, "/me/senders/verify", email="oscar@other.example",
                code=site.codes.code_for("oscar@other.example")) == [
        "Oscar@other.example already belongs to another user"]
    assert post(client, csrf, "/me/senders/verify", email="nobody@free.example",
                code=site.codes.code_for("nobody@free.example")) == [
        "nobody@free.example is now an authorized sender address."]
    with site.world.session() as session:
        verified = session.exec(select(SenderAddress.email).where(
            SenderAddress.user_id == site.world.alice.id, col(SenderAddress.verified_at).is_not(None))).all()
    assert verified == ["nobody@free.example"]
