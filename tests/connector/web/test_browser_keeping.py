"""In headless Chromium: an administrator sets how long matters are kept, places a legal hold, and erases a
person after reading what the dry run would change. Screenshots go to tests/artifacts/."""

from __future__ import annotations

from typing import Any

import pytest

from tests.connector.web.conftest import Site, log_matter_mail, sqlite_only
from tests.connector.web.test_browser import CHROMIUM, chromium, live, page, shoot, sign_in  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, sqlite_only,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium)")]


def test_an_admin_sets_a_rule_places_a_hold_and_erases_a_person(page: Any, site: Site) -> None:  # noqa: F811
    log_matter_mail(site)
    sign_in(page, site, "ada@acme-law.com")
    page.goto("/admin")
    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Retention").click()
    page.get_by_label("Keep mail filed under a").select_option("matter")
    page.get_by_label("for").fill("7")
    page.get_by_role("button", name="Save rule").click()
    assert "matter: 7 years after close" in page.get_by_role("status").first.inner_text()
    assert page.get_by_role("row", name="matter").count() == 1
    shoot(page, "admin-retention")
    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Legal holds").click()
    page.get_by_label("number or address").fill("10802")
    page.get_by_label("because").fill("Smith v. Jones: preservation letter")
    page.get_by_role("button", name="Place hold").click()
    assert "Legal hold" in page.get_by_role("status").first.inner_text()
    assert "Smith v. Jones: preservation letter" in page.get_by_role("table").inner_text()
    shoot(page, "admin-holds")
    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Erasure").click()
    page.get_by_label("The person's e-mail address").fill("carol@clientco.com")
    page.get_by_role("button", name="Erase").click()  # "only show what would change" is ticked
    report = page.locator(".callout").inner_text()
    assert "What erasure would do" in report and "kept whole under legal hold" in report
    shoot(page, "admin-erasure")
    page.get_by_label("The person's e-mail address").fill("carol@clientco.com")
    page.get_by_label("Only show what would change").uncheck()
    page.get_by_role("button", name="Erase").click()
    assert "Erasure report" in page.locator(".callout").inner_text()
    assert "The person is erased" in page.get_by_role("status").first.inner_text()
