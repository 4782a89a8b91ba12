"""Admin → Imports in headless Chromium: an administrator uploads an mbox with the file picker, the page follows
the import as a worker runs it (it refreshes itself) and ends on the result by reason."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from connector.config import ImportSettings
from connector.services.import_runner import ImportRunner
from tests.connector.web.conftest import Site, sqlite_only
from tests.connector.web.test_browser import CHROMIUM, chromium, live, page, shoot, sign_in  # noqa: F401 (fixtures)
from tests.connector.web.test_imports import archive

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
pytestmark = [pytest.mark.browser, sqlite_only,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium)")]


def test_an_admin_uploads_an_mbox_and_watches_the_import_finish(page: Any, site: Site,  # noqa: F811
                                                                 tmp_path: Path) -> None:
    site.context.settings = site.settings.model_copy(update={"imports": ImportSettings(
        spool_dir=str(tmp_path / "spool"))})
    (tmp_path / "2019.mbox").write_bytes(archive())
    sign_in(page, site, "ada@acme-law.com")
    page.get_by_role("link", name="Admin").click()
    page.get_by_role("link", name="Imports").click()
    page.get_by_label("Archive files").set_input_files(str(tmp_path / "2019.mbox"))
    page.get_by_role("button", name="Upload and import").click()
    page.wait_for_url("**/admin/imports/*")
    assert page.locator("#progress [data-state]").inner_text() == "Waiting for a worker"
    worker = threading.Thread(target=ImportRunner(site.engine, site.context.settings, "browser-test").run_once)
    worker.start()
    page.locator("#progress [data-state='done']").wait_for(timeout=15_000)  # the page refreshed by itself
    worker.join()
    assert "6 of 6" in page.locator("#progress").inner_text()
    rows = [r.inner_text().split("\t")[:3] for r in page.locator("#summary tbody tr").all()]
    assert [(r[0], r[1].split()[0], r[2]) for r in rows] == [
        ("filed", "addressed", "3"), ("unassigned", "no_matching_contact", "1"),
        ("refused", "unauthorized_sender", "1"), ("unreadable", "unparseable", "1")]
    shoot(page, "import")
    page.get_by_role("link", name="Imports").click()
    assert "2019.mbox" in page.locator("table.list").last.inner_text()
