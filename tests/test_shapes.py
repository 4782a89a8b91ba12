"""The shape check names what an answer lacks or types differently, and allows what it adds."""

from __future__ import annotations

from tests.shapes import documented, shape_problems


def test_a_missing_key_or_another_type_is_named_and_an_added_key_is_allowed() -> None:
    message = documented("graph/message.json")
    answer = {**message, "isRead": "false", "extra": 1, "toRecipients": [{"emailAddress": {"name": "A"}}]}
    del answer["conversationId"]
    assert shape_problems(message, answer) == [
        "$.conversationId: missing", "$.isRead: documented boolean, answered string",
        "$.toRecipients[0].emailAddress.address: missing"]
