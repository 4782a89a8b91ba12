"""In headless Chromium: an administrator walls Bob off a matter on Admin → Walls & visibility (and Bob then finds
nothing of it), and Alice keeps one of her e-mails to herself from its own page. Screenshots go to
tests/artifacts/."""

from __future__ import annotations

from typing import Any

import pytest

from tests.connector.web.conftest import Site, log_matter_mail, sqlite_only
from tests.connector.web.test_browser import CHROMIUM, chromium, live, page, shoot, sign_in  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, sqlite_only,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium)")]


def test_an_admin_walls_bob_off_the_matter(page: Any, site: Site) -> None:  # noqa: F811
    log_matter_mail(site, "Settlement draft")
    sign_in(page, site, "ada@acme-law.com")
    page.goto("/admin")
    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Walls & visibility").click()
    page.get_by_label("User", exact=True).select_option("bob@acme-law.com")
    page.get_by_label("Record", exact=True).fill("matter:10802")
    page.get_by_label("Reason").fill("Acted for the defendant")
    page.get_by_role("button", name="Add wall").click()
    assert "bob@acme-law.com is now walled from matter 10802" in page.get_by_role("status").first.inner_text()
    assert "Acted for the defendant" in page.get_by_role("table").inner_text()
    page.get_by_label("Its owner only (and administrators)").check()
    page.get_by_role("button", name="Save policy").click()
    assert "now visible to its owner only" in page.get_by_role("status").first.inner_text()
    shoot(page, "admin-walls")
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, site, "bob@acme-law.com")
    assert page.get_by_role("link", name="10802 Smith v. Jones").count() == 0
    answer = page.goto(f"/records/{site.world.matter.id}")
    assert answer is not None and answer.status == 404


def test_alice_keeps_an_email_to_herself(page: Any, site: Site) -> None:  # noqa: F811
    log_matter_mail(site, "Settlement draft")
    sign_in(page, site, "alice@acme-law.com")
    page.get_by_role("link", name="10802 Smith v. Jones").click()
    page.get_by_role("link", name="Details of “Settlement draft”").click()
    assert "everyone in the company" in page.locator("#visibility-now").inner_text()
    page.get_by_label("Its owner only (and administrators)").check()
    page.get_by_role("button", name="Save").click()
    assert "now visible to its owner only" in page.get_by_role("status").first.inner_text()
    assert "its owner only" in page.locator("#visibility-now").inner_text()
    shoot(page, "activity-visibility")
