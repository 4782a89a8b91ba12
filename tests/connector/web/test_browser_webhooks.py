"""In headless Chromium: an administrator registers the CRM's receiver on Admin → Webhooks (its signing secret
shown once), a mail is logged and the delivery log shows it delivered; the receiver then fails, and after it
recovers the administrator presses Redeliver and the event arrives. The receiver is a real HTTP server on
loopback that verifies every POST with the code docs/integration.md gives (401 when it fails); the worker's
delivery loop runs as `Dispatcher.run_once`, on the test's clock. Screenshot: tests/artifacts/admin-webhooks.png."""

from __future__ import annotations

from typing import Any

import pytest

from tests.connector.web.conftest import Site, log_matter_mail, sqlite_only
from tests.connector.web.receiver import Receiver
from tests.connector.web.test_browser import CHROMIUM, chromium, live, page, shoot, sign_in  # noqa: F401 (fixtures)
from tests.connector.web.test_event_webhooks import Hooks, crm, hooks  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, sqlite_only,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium)")]


def delivery_row(tab: Any, event_id: str) -> str:
    tab.reload()
    return str(tab.get_by_role("table", name="Deliveries").get_by_role("row").filter(has_text=event_id)
               .inner_text())


def test_an_admin_registers_the_crm_and_redelivers_what_it_missed(page: Any, site: Site, hooks: Hooks,  # noqa: F811
                                                                  crm: Receiver) -> None:  # noqa: F811
    sign_in(page, site, "ada@acme-law.com")
    page.goto("/admin")
    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Webhooks").click()
    assert "No endpoints yet" in page.get_by_role("table", name="Endpoints").inner_text()
    page.get_by_label("Send events to").fill(crm.url)
    page.get_by_label("Description").fill("CRM timeline")
    page.get_by_role("button", name="Add endpoint").click()
    assert "Copy its signing secret now" in page.get_by_role("status").first.inner_text()
    crm.secret = page.locator("#new-secret").inner_text().strip()  # the CRM's developer pastes it in
    assert crm.secret.startswith("whsec_")
    page.reload()
    assert page.locator("#new-secret").count() == 0  # shown once
    assert "CRM timeline" in page.get_by_role("table", name="Endpoints").inner_text()

    log_matter_mail(site, "Settlement draft")
    hooks.dispatcher.run_once()
    [logged] = crm.verified
    assert logged["type"] == "activity.logged" and logged["data"]["subject"] == "Settlement draft"
    row = delivery_row(page, logged["id"])
    assert "Delivered" in row and "HTTP 200" in row

    crm.statuses = [500]  # the CRM is down for a moment
    log_matter_mail(site, "Hearing on 14 April", "<m2@acme-law.com>")
    [failed] = hooks.dispatcher.run_once()
    event_id = failed.event_id
    row = delivery_row(page, event_id)
    assert "Pending" in row and "HTTP 500" in row
    shoot(page, "admin-webhooks")
    page.get_by_role("button", name=f"Redeliver {event_id}").click()
    assert f"Event {event_id} is sent again" in page.get_by_role("status").first.inner_text()
    [sent] = hooks.dispatcher.run_once()
    assert (sent.event_id, sent.status) == (event_id, "delivered")
    row = delivery_row(page, event_id)
    assert "Delivered" in row and "HTTP 200" in row
    assert [r.headers["webhook-id"] for r in crm.received] == [logged["id"], event_id, event_id]
    assert [e["data"]["subject"] for e in crm.verified] == ["Settlement draft", "Hearing on 14 April",
                                                            "Hearing on 14 April"]
