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


def test_an_exact_check_also_names_undocumented_keys_at_every_level() -> None:
    history = documented("gmail/history_list.json")
    answer = {**history, "history": [{**history["history"][0], "labelsAdded": []}], "resultSizeEstimate": 1}
    assert shape_problems(history, answer) == []
    assert shape_problems(history, answer, exact=True) == ["$.resultSizeEstimate: undocumented",
                                                           "$.history[0].labelsAdded: undocumented"]


def test_an_empty_list_where_the_page_shows_items_and_an_integer_for_a_string_are_named() -> None:
    message = documented("gmail/message_metadata.json")
    answer = {**message, "labelIds": [], "historyId": 4321, "sizeEstimate": 1234.0}
    assert shape_problems(message, answer) == ["$.labelIds: documented with items, answered none",
                                               "$.sizeEstimate: documented integer, answered number",
                                               "$.historyId: documented string, answered integer"]
