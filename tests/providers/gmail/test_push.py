"""Gmail pushes as the emulator's Pub/Sub delivers them, read by the connector's PushParser."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from connector.app.cli import app
from connector.config import Settings, get_settings
from connector.errors import WebhookRejected
from connector.ports import Notification
from emulators.gmail import GmailEmulator
from providers.gmail.push import PushParser, require_audience

from .conftest import ANN, BOB, PUSH_SA, TOPIC, Push, PushReceiver, raw_message

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def parser(connector_settings: Settings) -> PushParser:
    return PushParser(connector_settings.gmail)


def _pushes(emulator: GmailEmulator, receiver: PushReceiver, service_for, count: int = 1) -> list[Push]:
    """Bob watches his inbox; Ann writes to him ``count`` times; the pushes as the webhook got them."""
    emulator.set_push_interval(0)
    service_for(BOB).users().watch(userId="me", body={"topicName": TOPIC, "labelIds": ["INBOX"]}).execute()
    for n in range(count):
        service_for(ANN).users().messages().send(userId="me", body={"raw": raw_message(ANN, BOB, f"n{n}")}).execute()
        assert emulator.wait_push_idle()
    return receiver.wait_for(count)


def _body(push: Push) -> bytes:
    return json.dumps(push.body).encode()


def test_a_genuine_push_names_the_mailbox_with_news(parser: PushParser, emulator: GmailEmulator,
                                                    receiver: PushReceiver, service_for) -> None:
    emulator.configure_push(TOPIC, receiver.url, service_account_email=PUSH_SA)
    [push] = _pushes(emulator, receiver, service_for)
    assert parser.parse(push.headers, _body(push), receiver.url) == [Notification(address=BOB)]


def test_duplicate_and_out_of_order_pushes_are_harmless(parser: PushParser, emulator: GmailEmulator,
                                                        receiver: PushReceiver, service_for) -> None:
    emulator.configure_push(TOPIC, receiver.url, service_account_email=PUSH_SA)
    emulator.duplicate_pushes(next_n=1)
    pushes = _pushes(emulator, receiver, service_for, count=2)
    assert len(pushes) == 3 and pushes[0].body == pushes[1].body
    newest_first = sorted(pushes, key=lambda p: int(p.data["historyId"]), reverse=True)
    notes = [parser.parse(p.headers, _body(p), receiver.url) for p in newest_first + pushes]
    # Each is only "Bob has news": the sync reads history from its own cursor, whatever the order.
    assert all(n == [Notification(address=BOB)] for n in notes)
    assert parser.certificates.fetches == 1  # Google's keys are cached: the webhook stays fast


def test_the_audience_can_be_set_explicitly(connector_settings: Settings, emulator: GmailEmulator,
                                            receiver: PushReceiver, service_for) -> None:
    audience = "https://capture.example.com/webhooks/gmail"
    emulator.configure_push(TOPIC, receiver.url, audience=audience, service_account_email=PUSH_SA)
    [push] = _pushes(emulator, receiver, service_for)
    explicit = PushParser(connector_settings.gmail.model_copy(update={"push_audience": audience}))
    assert explicit.parse(push.headers, _body(push), receiver.url) == [Notification(address=BOB)]
    with pytest.raises(WebhookRejected) as rejected:  # default audience: the URL it was posted to
        PushParser(connector_settings.gmail).parse(push.headers, _body(push), receiver.url)
    assert rejected.value.reason == "wrong_audience"


def _reason(parser: PushParser, headers: dict[str, str], body: bytes, url: str) -> str:
    with pytest.raises(WebhookRejected) as rejected:
        parser.parse(headers, body, url)
    return rejected.value.reason


def test_forged_pushes_are_rejected_with_the_reason(parser: PushParser, emulator: GmailEmulator,
                                                    receiver: PushReceiver, service_for) -> None:
    emulator.configure_push(TOPIC, receiver.url, service_account_email=PUSH_SA)
    [push] = _pushes(emulator, receiver, service_for)
    body, url, token = _body(push), receiver.url, push.bearer

    assert _reason(parser, {}, body, url) == "missing_token"
    assert _reason(parser, {"Authorization": "Basic Zm9vOmJhcg=="}, body, url) == "missing_token"
    assert _reason(parser, {"Authorization": "Bearer not-a-jwt"}, body, url) == "invalid_token"

    claims = jwt.decode(token, options={"verify_signature": False})
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, forger, algorithm="RS256", headers={"kid": jwt.get_unverified_header(token)["kid"]})
    assert _reason(parser, {"Authorization": f"Bearer {forged}"}, body, url) == "invalid_token"

    assert _reason(parser, push.headers, body, "https://attacker.example/hook") == "wrong_audience"

    genuine = {"Authorization": f"Bearer {token}"}
    not_json = b"{"
    no_data = json.dumps({"message": {"data": base64.b64encode(b'{"historyId": "1"}').decode()}}).encode()
    assert _reason(parser, genuine, not_json, url) == "malformed"
    assert _reason(parser, genuine, no_data, url) == "malformed"


def test_a_push_signed_for_another_service_account_is_rejected(parser: PushParser, emulator: GmailEmulator,
                                                               receiver: PushReceiver, service_for) -> None:
    emulator.configure_push(TOPIC, receiver.url, service_account_email="someone-else@evil.iam.gserviceaccount.com")
    [push] = _pushes(emulator, receiver, service_for)
    assert _reason(parser, push.headers, _body(push), receiver.url) == "wrong_service_account"


def test_behind_a_tls_proxy_the_connector_refuses_to_start_without_the_push_audience(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for key, value in {"DATABASE__URL": f"sqlite:///{tmp_path / 'c.db'}", "GMAIL__CLIENT_ID": "1234.apps",
                       "GMAIL__TOPIC_NAME": TOPIC, "SYNC__PUBLIC_URL": "https://capture.example.com"}.items():
        monkeypatch.setenv(f"BCC_CAPTURE_{key}", value)
    get_settings.cache_clear()
    try:
        assert CliRunner().invoke(app, ["db", "upgrade"]).exit_code == 0
        refused = CliRunner().invoke(app, ["serve", "--port", "0"])
        assert refused.exit_code == 1
        [line] = [line for line in refused.output.splitlines() if not line.startswith("note:")]
        assert line.startswith("error: setting 'gmail.push_audience': required behind the proxy serving "
                               "https://capture.example.com")
        assert "https://capture.example.com/webhooks/gmail" in line
        monkeypatch.setenv("BCC_CAPTURE_GMAIL__PUSH_AUDIENCE", "https://capture.example.com/webhooks/gmail")
        get_settings.cache_clear()
        assert require_audience(get_settings()) is None  # set: the connector starts
    finally:
        get_settings.cache_clear()
