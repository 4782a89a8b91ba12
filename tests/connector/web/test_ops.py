"""What the orchestrator and Prometheus read from the web process."""

from __future__ import annotations

import dataclasses
import re

from cryptography.fernet import Fernet
from fastapi.testclient import TestClient

from connector.crypto import TokenCipher
from connector.db import transaction
from connector.services import mailboxes, users
from tests.connector.web.conftest import Site


def _gauge(client: TestClient, series: str) -> float:
    [line] = [line for line in client.get("/metrics").text.splitlines() if line.startswith(series + " ")]
    return float(line.rsplit(" ", 1)[1])


def test_metrics_count_the_connected_mailboxes_by_state_as_of_the_scrape(client: TestClient, site: Site) -> None:
    before = _gauge(client, 'bcc_capture_mailboxes{state="initial"}')
    with transaction(site.world.engine) as session:
        mailboxes.connect(session, users.get_user(session, "alice@acme-law.com"), "graph", "{}",
                          TokenCipher(Fernet.generate_key()))
    assert _gauge(client, 'bcc_capture_mailboxes{state="initial"}') == before + 1
    assert _gauge(client, 'bcc_capture_mailboxes{state="failing"}') == 0
    assert _gauge(client, "bcc_capture_spool_depth") == 0


def test_health_and_readiness_answer_for_the_orchestrator(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


def test_the_api_docs_use_only_assets_the_app_serves_itself(client: TestClient) -> None:
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css|png))"', html)
        assert assets and all(a.startswith("/docs/assets/") for a in assets), (page, assets)
        for asset in assets:
            assert client.get(asset).status_code == 200
        assert "cdn." not in html and "fonts.googleapis" not in html


def test_a_client_over_its_sign_in_limit_is_answered_429_and_others_are_not(site: Site) -> None:
    from connector.web.app import create_app

    strict = dataclasses.replace(site.context, settings=site.settings.model_copy(
        update={"limits": site.settings.limits.model_copy(update={"signin": 3})}))
    app = create_app(strict)
    with TestClient(app, follow_redirects=False) as client, \
            TestClient(app, follow_redirects=False, client=("10.0.0.9", 50000)) as other:
        answers = [client.get("/signin").status_code for _ in range(4)]
        assert answers == [200, 200, 200, 429]
        assert int(client.get("/signin").headers["Retry-After"]) >= 1
        assert client.get("/healthz").status_code == 200  # probes are never limited
        assert other.get("/signin").status_code == 200  # the limit is per client address
