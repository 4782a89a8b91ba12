"""What each inbound-mail service does its own way: Postmark's MailboxHash and a payload without the raw
message, SendGrid with basic auth only or signed, Mailgun's raw MIME byte for byte, SES's subscription
handshake, topics, certificate URLs, a notification without the message and signature version 1; an
unconfigured endpoint (SES's S3 action: test_ses_s3.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import col

from connector.config import InboundSettings, load_settings
from connector.errors import ConfigError
from connector.models import AuditEntry
from emulators.dkim import crlf
from tests.conftest import World
from tests.connector.dropbox import inbound_calls as calls
from tests.connector.dropbox.conftest import MATTER, DnsServer
from tests.connector.dropbox.inbound_front import ALICE, Front, inbound_settings, signed, start_front


def test_postmark_own_address_with_the_dropbox_after_the_plus_and_without_raw_content(front: Front) -> None:
    call = calls.postmark(signed("Rebuilt"), "4f8b1c2d+acme+10802@inbound.postmarkapp.com",
                          mailbox_hash="acme+10802", raw_included=False)
    assert front.post(call).status_code == 200
    [row] = front.spooled()
    assert row.rcpt_tos == [MATTER] and row.mail_from == ALICE
    [filed] = front.file()  # put together from the parsed fields, no DKIM signature survives: quarantined, not lost
    assert (filed.outcome, filed.reason) == ("quarantined", "unauthenticated_sender")


def test_mailgun_hands_over_the_raw_message_byte_for_byte(front: Front) -> None:
    raw = (b"From: Alice Archer <alice@acme-law.com>\nTo: carol@clientco.com\nSubject: Caf\xc3\xa9\n"
           b"Message-ID: <bytes-1@acme-law.com>\nContent-Type: text/plain; charset=iso-8859-1\n"
           b"Content-Transfer-Encoding: 8bit\n\nCaf\xe9 cr\xe8me, line ending LF\n--not-a-boundary\n")
    assert front.post(calls.mailgun(raw, MATTER)).status_code == 200
    [row] = front.spooled()
    assert row.raw.split(b"\r\n", 1)[1] == crlf(raw)  # after our Received line: every byte, lines as on the wire


def test_sendgrid_with_basic_auth_only_and_with_a_signature_required(world: World, dns_server: DnsServer,
                                                                    aws: calls.FakeAws) -> None:
    basic_only = inbound_settings(dns_server).model_copy(update={"inbound": InboundSettings(
        sendgrid_password=calls.SENDGRID_PASSWORD)})
    for front in start_front(world, basic_only, aws):
        assert front.post(calls.sendgrid(signed("Unsigned"), MATTER, signer=None)).status_code == 200
        wrong = front.post(calls.sendgrid(signed("Guessed"), MATTER, signer=None, password="guessed"))
        assert (wrong.status_code, wrong.headers["www-authenticate"]) == (401, 'Basic realm="bcc-capture inbound mail"')
        assert front.post(calls.postmark(signed("Off"), MATTER)).status_code == 404  # no password: not configured
    for front in start_front(world, inbound_settings(dns_server), aws):
        unsigned = front.post(calls.sendgrid(signed("Unsigned"), MATTER, signer=None))
        assert (unsigned.status_code, unsigned.json()["error"]) == (401, "bad_signature")


def test_ses_subscription_is_confirmed_by_visiting_the_subscribe_url(front: Front) -> None:
    before = len(front.aws.requests)
    response = front.post(calls.subscription_confirmation(front.aws))
    assert (response.status_code, response.json()["status"]) == (200, "subscription_confirmed")
    visited = front.aws.requests[before:]
    assert any(path.startswith("/?Action=ConfirmSubscription&TopicArn=") for path in visited)
    assert front.spooled() == []


def test_ses_from_a_topic_not_ours_is_refused_without_confirming_anything(front: Front) -> None:
    other = "arn:aws:sns:eu-west-1:999999999999:somebody-elses"
    for call in (calls.subscription_confirmation(front.aws, topic=other),
                 calls.ses(front.aws, signed("Theirs"), MATTER, topic=other)):
        before = len(front.aws.requests)
        response = front.post(call)
        assert (response.status_code, response.json()["error"]) == (403, "unknown_topic")
        assert not any("ConfirmSubscription" in path for path in front.aws.requests[before:])
    assert front.spooled() == []


@pytest.mark.parametrize("url", ["https://sns.eu-west-1.amazonaws.com.evil.example/cert.pem",
                                 "http://sns.eu-west-1.amazonaws.com/cert.pem",
                                 "https://evil.example/sns.eu-west-1.amazonaws.com/cert.pem",
                                 "https://sns.eu-west-1.amazonaws.com/cert.txt"])
def test_ses_signing_certificates_come_only_from_sns_hosts(front: Front, url: str) -> None:
    call = calls.ses(front.aws, signed("Elsewhere"), MATTER)
    message = json.loads(call.content) | {"SigningCertURL": url}
    before = len(front.aws.requests)
    response = front.post(calls.Call(call.path, json.dumps(message).encode(), call.headers))
    assert (response.status_code, response.json()["error"]) == (403, "bad_sns_url")
    assert front.aws.requests[before:] == []  # nothing was fetched


def test_ses_notification_with_neither_content_nor_an_s3_object_is_refused(front: Front) -> None:
    call = calls.ses(front.aws, signed("Nothing"), MATTER)
    message = json.loads(call.content)
    notification = json.loads(message["Message"])
    del notification["content"]
    message["Message"] = json.dumps(notification)
    response = front.post(calls.Call(call.path, json.dumps(front.aws.sign(message)).encode(), call.headers))
    assert (response.status_code, response.json()["error"]) == (403, "no_content")
    assert front.spooled() == []
    [sample] = front.rows(AuditEntry, col(AuditEntry.reason) == "no_content")
    assert "neither content nor an S3 object" in sample.detail["last"]


def test_ses_signature_version_1_and_the_set_up_notification(front: Front) -> None:
    assert front.post(calls.ses(front.aws, signed("SHA1"), MATTER, version="1")).status_code == 200
    setup = calls.ses(front.aws, signed("x"), MATTER)
    message = json.loads(setup.content)
    message["Message"] = json.dumps({"notificationType": "AMAZON_SES_SETUP_NOTIFICATION"})
    resigned = front.aws.sign({k: v for k, v in message.items() if k not in ("Signature", "SignatureVersion")})
    response = front.post(calls.Call(setup.path, json.dumps(resigned).encode(), setup.headers))
    assert (response.status_code, response.json()["status"]) == (200, "AMAZON_SES_SETUP_NOTIFICATION")
    assert len(front.spooled()) == 1


def test_inbound_secrets_come_from_the_environment_or_a_file_never_from_the_settings_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("inbound:\n  mailgun_signing_key: key-in-the-file\n", encoding="utf-8")
    monkeypatch.setenv("BCC_CAPTURE_SETTINGS", str(path))
    with pytest.raises(ConfigError, match=r"inbound\.mailgun_signing_key"):
        load_settings()
    path.write_text("inbound:\n  ses_topic_arns: [arn:aws:sns:eu-west-1:1:t]\n", encoding="utf-8")
    secret = tmp_path / "mailgun.key"
    secret.write_text("key-from-a-file\n", encoding="utf-8")
    monkeypatch.setenv("BCC_CAPTURE_INBOUND__MAILGUN_SIGNING_KEY_FILE", str(secret))
    monkeypatch.setenv("BCC_CAPTURE_INBOUND__POSTMARK_PASSWORD", "from-the-environment")
    loaded = load_settings().inbound
    assert (loaded.mailgun_signing_key, loaded.postmark_password) == ("key-from-a-file", "from-the-environment")
    assert loaded.ses_topic_arns == ("arn:aws:sns:eu-west-1:1:t",)
