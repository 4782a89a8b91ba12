"""What a sync step costs in Graph requests, counted from the emulator's own request log: the thread read that
follows a download rides in the download's `$batch`, and a worker process that never mapped a mailbox's folders
asks for none before its first look-up (the cursor knows them)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from providers.graph.adapter import GraphProvider
from tests.mailbuilder import mail
from tests.providers.graph.conftest import Seeded
from tests.providers.graph.test_adapter import connect, graph_settings, send

ALICE, CAROL = "alice@contoso.com", "carol@fabrikam.com"


@pytest.fixture
def provider(seeded: Seeded) -> GraphProvider:
    return GraphProvider(graph_settings(seeded), clock=lambda: datetime.now(UTC))


def http_requests(seeded: Seeded) -> list[str]:
    return [r.endpoint for r in seeded.emulator.request_log() if not r.in_batch]


def test_the_thread_read_after_a_download_costs_no_request_of_its_own(provider: GraphProvider,
                                                                       seeded: Seeded) -> None:
    ref = connect(provider, seeded, ALICE)
    cursor = provider.start_cursor(ref)
    send(seeded, mail(CAROL, [ALICE], subject="Smith v. Jones", message_id="<first@fabrikam.com>"), CAROL)
    send(seeded, mail(CAROL, [ALICE], subject="RE: Smith v. Jones", message_id="<second@fabrikam.com>",
                      in_reply_to="<first@fabrikam.com>", references=["<first@fabrikam.com>"]), CAROL)
    first, second = sorted(provider.read_changes(ref, cursor).envelopes, key=lambda e: e.internet_message_id)
    seeded.emulator.clear_request_log()

    [full] = provider.fetch_full(ref, [second])  # the reply is logged: its thread's earlier mail is read next
    thread = provider.thread(ref, second)

    assert full.complete and [e.internet_message_id for e in thread] == ["<first@fabrikam.com>"]
    assert http_requests(seeded) == ["POST /$batch"]  # the download and the conversation's listing
    again = provider.thread(ref, second)  # a listing serves the one thread read it was made for, no other
    assert [e.internet_message_id for e in again] == ["<first@fabrikam.com>"]
    assert http_requests(seeded) == ["POST /$batch", "GET /{user}/messages"]
    assert first.provider_message_id == thread[0].provider_message_id


def test_a_new_worker_process_lists_no_folders_before_its_first_look_up(provider: GraphProvider,
                                                                       seeded: Seeded) -> None:
    ref = connect(provider, seeded, ALICE)
    cursor = provider.start_cursor(ref)  # the folders were mapped by another process (the connect's first sync)
    send(seeded, mail(CAROL, [ALICE], subject="Invoice", message_id="<junk@fabrikam.com>"), CAROL)
    [spam] = seeded.emulator.messages(ALICE, "inbox")
    seeded.emulator.move_message(spam.id, "junkemail")
    another = GraphProvider(graph_settings(seeded), clock=lambda: datetime.now(UTC))  # a worker just started
    cursor = another.read_changes(ref, cursor).cursor
    seeded.emulator.clear_request_log()

    assert another.find(ref, "<junk@fabrikam.com>") is None  # Junk is still never read: the cursor knows it
    assert [r.endpoint for r in seeded.emulator.request_log()] == ["GET /{user}/messages"]  # no folder listing


def test_a_sync_step_asks_the_identity_platform_nothing_while_the_token_is_valid(provider: GraphProvider,
                                                                               seeded: Seeded) -> None:
    ref = connect(provider, seeded, ALICE)
    cursor = provider.start_cursor(ref)
    asked: list[str] = []
    provider.auth.session.hooks["response"].append(lambda response, **_: asked.append(response.url))

    for _ in range(3):  # three wake-ups, each a step with a token of its own look-up
        cursor = provider.read_changes(ref, cursor).cursor

    assert asked == []  # the authority's configuration was read once, when Alice connected
