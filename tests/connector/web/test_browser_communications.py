"""In headless Chromium: a matter with more threads than fit on a page. Alice pages down and back with the
pager's links and searches the tab by a word of the text, a person's address and a subject."""

# ruff: noqa: F811  (the browser fixtures are imported by name, and tests take them as parameters)
from __future__ import annotations

from datetime import timedelta
from typing import Any

from connector.routing.decision import Outcome
from tests.connector.web.conftest import ALICE, MATTER, Site
from tests.connector.web.test_browser import chromium, live, page, pytestmark, shoot, sign_in  # noqa: F401
from tests.mailbuilder import DATE, mail, to_dropbox


def _threads(site: Site, count: int) -> None:
    people = ["Carol Client <carol@clientco.com>", "Hank Scorpio <hank@globex.com>"]
    envelopes = [to_dropbox(mail(ALICE, [people[n % 2]], bcc=[MATTER], subject=f"Thread {n:03d}",
                                 message_id=f"<t{n}@acme-law.com>", date=DATE + timedelta(minutes=n),
                                 body=f"Body of thread {n}." + (" The retainer is due." if n % 10 == 0 else "")))
                 for n in range(count)]
    assert all(applied.outcome is Outcome.LOGGED for _, applied in site.capture.process_all(envelopes))


def _subjects(page: Any) -> list[str]:
    return [t.split(" ")[1] for t in page.locator(".thread-title").all_inner_texts()]


def test_alice_pages_through_the_tab_and_searches_it(page: Any, site: Site) -> None:
    _threads(site, 60)
    sign_in(page, site, "alice@acme-law.com")
    page.get_by_role("link", name="10802 Smith v. Jones").click()
    assert _subjects(page)[:2] == ["059", "058"] and len(_subjects(page)) == 50
    pager = page.get_by_role("navigation", name="Pages of threads")
    assert "Page 1 of 2" in pager.inner_text() and pager.get_by_role("link", name="Newer threads").count() == 0
    pager.get_by_role("link", name="Older threads").click()
    assert _subjects(page) == [f"{n:03d}" for n in range(9, -1, -1)]
    assert "Page 2 of 2" in pager.inner_text() and pager.get_by_role("link", name="Older threads").count() == 0
    pager.get_by_role("link", name="Newer threads").click()
    assert _subjects(page)[0] == "059" and "Page 1 of 2" in pager.inner_text()

    search = page.get_by_role("searchbox", name="Search this tab")
    search.fill("retainer")
    search.press("Enter")
    assert _subjects(page) == ["050", "040", "030", "020", "010", "000"]
    assert page.get_by_text("6 messages matching “retainer”").count() == 1
    shoot(page, "communications-search")
    search.fill("hank@globex.com retainer")
    search.press("Enter")
    assert _subjects(page) == []  # Hank is on the odd threads, the retainer on every tenth: none has both
    assert page.get_by_text("No e-mail here matches “hank@globex.com retainer”").count() == 1
    search.fill("thread 007")
    search.press("Enter")
    assert _subjects(page) == ["007"]
    page.get_by_role("link", name="Show all").click()
    assert len(_subjects(page)) == 50
