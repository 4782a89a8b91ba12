"""Searching logged mail: what a reader types finds the mail by its words, on SQLite and PostgreSQL alike,
including mail logged before the search existed and mail changed since it was logged."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import update
from sqlalchemy.engine import Engine

from connector.config import Settings
from connector.db import alembic_config, make_engine, transaction, upgrade
from connector.models import Activity, Participant
from connector.services import records, search
from connector.services.capture import Capture
from connector.services.communications import communications_page
from connector.services.search import terms
from tests.conftest import World, build_world
from tests.mailbuilder import mail, to_dropbox

MATTER = "acme+10802@bcc.example.com"


def _log(world: World, settings: Settings, subject: str, body: str, to: str = "Hank Scorpio <hank@globex.com>") -> int:
    raw = mail("Alice Archer <alice@acme-law.com>", [to], bcc=[MATTER], subject=subject,
               message_id=f"<{abs(hash(subject))}@acme-law.com>", body=body)
    applied = Capture(world.engine, settings).process(to_dropbox(raw))
    assert applied.activity_id is not None, applied
    return applied.activity_id


def _found(world: World, query: str) -> list[str]:
    with transaction(world.engine) as session:
        page = communications_page(session, world.tenant, world.matter, query=query)
    return sorted(m.subject for t in page.threads for m in t.messages)


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
    url = f"sqlite:///{tmp_path / 'fresh.db'}" if request.param == "sqlite" else request.getfixturevalue("fresh_pg_url")
    return make_engine(url)


def test_mail_logged_before_the_search_existed_is_found_after_the_upgrade(fresh_engine: Engine,
                                                                          settings: Settings) -> None:
    upgrade(fresh_engine)
    world = build_world(fresh_engine)
    _log(world, settings, "Engagement letter", "The retainer is attached.\n", to="Carol Client <carol@clientco.com>")
    command.downgrade(alembic_config(fresh_engine), "0017")  # the mail is now as logged before the search
    upgrade(fresh_engine)
    assert _found(world, "engagement") == ["Engagement letter"]  # subject
    assert _found(world, "retainer") == ["Engagement letter"]  # text
    assert _found(world, "carol@clientco.com") == ["Engagement letter"]  # a participant's address
    assert _found(world, "invoice") == []
    fresh_engine.dispose()


def test_a_changed_mail_is_found_by_its_new_words_only(world: World, settings: Settings) -> None:
    activity_id = _log(world, settings, "Quarterly figures", "Revenue rose sharply.\n")
    assert _found(world, "revenue") == ["Quarterly figures"] and _found(world, "scorpio") == ["Quarterly figures"]
    with transaction(world.engine) as session:  # as an erasure scrubs a person from the mail it names
        session.execute(update(Activity).where(Activity.id == activity_id).values(text="[erased]\n"))
        session.execute(update(Participant).where(Participant.activity_id == activity_id)
                        .where(Participant.email == "hank@globex.com").values(name="", email="erased@invalid"))
    assert _found(world, "revenue") == [] and _found(world, "scorpio") == [] and _found(world, "hank") == []
    assert _found(world, "erased") == ["Quarterly figures"]


def test_every_word_must_be_found_somewhere_on_the_mail_and_the_last_may_be_a_beginning(world: World,
                                                                                      settings: Settings) -> None:
    _log(world, settings, "Müller settlement", "Draft attached for review.\n")
    _log(world, settings, "Board minutes", "Settlement talks stalled.\n", to="Mindy Moss <mindy@globex.com>")
    assert _found(world, "settlement") == ["Board minutes", "Müller settlement"]
    assert _found(world, "settlement hank") == ["Müller settlement"]  # one word in the text, one among people
    assert _found(world, "settle") == ["Board minutes", "Müller settlement"]
    assert _found(world, "müller") == ["Müller settlement"]
    assert _found(world, "mindy@globex") == ["Board minutes"]
    assert _found(world, "--- !!") == []  # no words: nothing, not everything


def test_a_query_is_its_words_punctuation_aside() -> None:
    assert terms("Carol@ClientCo.com  re: 100%") == [["carol", "clientco", "com"], ["re"], ["100"]]
    assert terms(" _ % * \"") == []


def _pages(world: World, email: str | None, query: str) -> list[tuple[list[tuple[str, list[str]]], int, int]]:
    """Every page of one thread of the tab of the contact ``email`` (None: the matter) searched for ``query``, read
    by its "older" links: each page's threads and their messages, and its counts."""
    found, after = [], ""
    with transaction(world.engine) as session:
        record = records.person(session, world.tenant, email) if email else world.matter
        while True:
            page = communications_page(session, world.tenant, record, query=query, page_size=1, after=after)
            found.append(([(t.subject, [m.subject for m in t.messages]) for t in page.threads], page.messages,
                          page.pages))
            if page.older is None:
                return found
            after = page.older


def test_a_contacts_tab_finds_the_same_mail_whether_the_index_lists_a_term_or_each_mail_is_tested(
        world: World, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL looks a term few e-mails hold up in the index, and tests each e-mail for a common one: the same
    threads, messages, counts and pages either way, for words found among the people, in the text, or both."""
    _log(world, settings, "Engagement letter", "The retainer is attached.\n", to="Carol Client <carol@clientco.com>")
    _log(world, settings, "Lunch", "Carol, see you on Friday.\n", to="Carol Client <carol@clientco.com>")
    _log(world, settings, "Board minutes", "Carol Client will attend.\n")  # to Hank: not on Carol's tab
    queries = ["carol", "retainer", "carol retainer", "friday carol@clientco.com", "attend", "invoice"]
    tabs = [(who, q) for who in ("carol@clientco.com", None) for q in queries]
    monkeypatch.setattr(search, "FEW_IN_MAIL", -1)  # every term tested on each e-mail
    tested = {tab: _pages(world, *tab) for tab in tabs}
    monkeypatch.setattr(search, "FEW_IN_MAIL", 10**9)  # every term listed by the index
    assert {tab: _pages(world, *tab) for tab in tabs} == tested
    assert tested[("carol@clientco.com", "carol")] == [([("Lunch", ["Lunch"])], 2, 2),
                                                      ([("Engagement letter", ["Engagement letter"])], 2, 2)]
    assert [thread for page in tested[(None, "carol")] for thread, _ in page[0]] == [
        "Board minutes", "Lunch", "Engagement letter"]  # in the text of one, among the people of the others
    assert tested[(None, "carol retainer")] == [([("Engagement letter", ["Engagement letter"])], 1, 1)]
    assert tested[("carol@clientco.com", "attend")] == [([], 0, 1)]
