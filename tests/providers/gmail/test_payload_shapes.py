"""The Gmail emulator answers in the shapes Google documents (tests/fixtures/payloads/gmail/, each with its
page), through google-api-python-client: a message (metadata and raw), a history page, a watch, the Pub/Sub
push body, and the 403 userRateLimitExceeded error."""

from __future__ import annotations

import json
from typing import Any

import pytest
from googleapiclient.errors import HttpError

from emulators.gmail import GmailEmulator
from tests.providers.gmail.conftest import ANN, BOB, TOPIC, PushReceiver, send
from tests.shapes import assert_documented_shape


def test_messages_history_watch_and_push_in_the_documented_shapes(emulator: GmailEmulator, service_for: Any,
                                                                   receiver: PushReceiver) -> None:
    emulator.configure_push(TOPIC, receiver.url)
    emulator.set_push_interval(0)
    ann = service_for(ANN)
    watch = ann.users().watch(userId="me", body={"topicName": TOPIC, "labelIds": ["INBOX"]}).execute()
    assert_documented_shape("gmail/watch_response.json", watch)
    send(service_for(BOB), BOB, ANN, "Matter 10802")
    send(service_for(BOB), BOB, ANN, "Matter 10802, again")

    [push, *_] = receiver.wait_for(1)
    assert_documented_shape("gmail/pubsub_push.json", push.body)
    history = ann.users().history().list(userId="me", startHistoryId=watch["historyId"], maxResults=1).execute()
    assert_documented_shape("gmail/history_list.json", history)
    message_id = history["history"][0]["messages"][0]["id"]
    assert_documented_shape("gmail/message_metadata.json", ann.users().messages().get(
        userId="me", id=message_id, format="metadata", metadataHeaders=["Subject"]).execute())
    raw = ann.users().messages().get(userId="me", id=message_id, format="raw").execute()
    assert_documented_shape("gmail/message_raw.json", raw)


def test_the_per_user_rate_limit_error(emulator: GmailEmulator, service_for: Any) -> None:
    emulator.set_quota(per_user_per_minute=1)
    ann = service_for(ANN)
    with pytest.raises(HttpError) as refused:
        for _ in range(3):
            ann.users().getProfile(userId="me").execute(num_retries=0)
    assert refused.value.resp.status == 403
    assert_documented_shape("gmail/error_user_rate_limit.json", json.loads(refused.value.content))
