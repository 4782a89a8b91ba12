"""A batch that fails in several ways gets the same action whichever provider it came from."""

from __future__ import annotations

import pytest

from connector.errors import GrantRevoked, PermanentError, ProviderError, Throttled, TransientError, most_severe
from connector.sync.policy import Action, action_for


@pytest.mark.parametrize(("failures", "action"), [
    ([PermanentError("gone"), TransientError("blip")], Action.FAIL),
    ([Throttled(retry_after=60), GrantRevoked("revoked")], Action.NEEDS_RECONNECT),
    ([TransientError("blip"), Throttled(retry_after=2)], Action.RATE_LIMITED),
])
def test_a_batch_with_mixed_failures_takes_the_action_no_retry_can_avoid(failures: list[ProviderError],
                                                                         action: Action) -> None:
    assert action_for(most_severe(failures)) == action
    assert action_for(most_severe(list(reversed(failures)))) == action


def test_the_longest_retry_after_wins_among_throttled_items() -> None:
    chosen = most_severe([Throttled(retry_after=5), Throttled(retry_after=60), TransientError("blip")])
    assert isinstance(chosen, Throttled) and chosen.retry_after == 60


def test_both_adapters_raise_through_the_one_rule() -> None:
    import providers.gmail.client as gmail_client
    import providers.graph.adapter as graph_adapter

    assert gmail_client.most_severe is most_severe and graph_adapter.most_severe is most_severe
