"""Sessions end on the server: signing out, a role change or a deactivation stops every copy of the cookie
at once (another tab, a shared computer, a stolen cookie), not twelve hours later when it expires."""

from __future__ import annotations

from fastapi.testclient import TestClient

from connector.models import User
from connector.services.tenants import get_role
from connector.web.security import SESSION_COOKIE
from tests.connector.web.conftest import Site, flash_of, sign_in, sqlite_only

pytestmark = sqlite_only  # forms and flows; their queries run on both databases in the records and API stories


def copy_of_cookie(client: TestClient, site: Site) -> TestClient:
    """Another browser holding the very same session cookie."""
    other = TestClient(site.app, follow_redirects=False)
    other.cookies.set(SESSION_COOKIE, client.cookies[SESSION_COOKIE])
    return other


def role_id(site: Site, name: str) -> int:
    with site.world.session() as session:
        found = get_role(session, site.world.tenant, name).id
    assert found is not None
    return found


def test_signing_out_ends_every_copy_of_the_session(client: TestClient, site: Site) -> None:
    csrf = sign_in(client, site, "bob@acme-law.com")
    with copy_of_cookie(client, site) as stolen:
        assert stolen.get("/me").status_code == 200  # the copy works while Bob is signed in
        client.post("/signout", data={"csrf": csrf})
        assert stolen.get("/me").headers["location"] == "/signin?next=/me"
        assert stolen.post("/me/capture", data={"csrf": csrf, "enabled": "off"}).headers["location"] == "/signin"
    with site.world.session() as session:
        bob = session.get(User, site.world.bob.id)
        assert bob is not None and bob.capture_enabled  # the copy's form did nothing
    sign_in(client, site, "bob@acme-law.com")  # signing in again gives a session that works
    assert client.get("/me").status_code == 200


def test_a_role_change_signs_the_user_out_everywhere(client: TestClient, site: Site) -> None:
    sign_in(client, site, "alice@acme-law.com")
    assert client.get("/admin").status_code == 403
    with TestClient(site.app, follow_redirects=False) as ada:
        csrf = sign_in(ada, site, "ada@acme-law.com")
        ada.post(f"/admin/users/{site.world.alice.id}/role",
                 data={"csrf": csrf, "role_id": str(role_id(site, "Administrator"))})
        assert flash_of(ada.get("/admin/users").text) == [
            "alice@acme-law.com now has the role Administrator, and was signed out everywhere."]
    assert client.get("/me").status_code == 303
    sign_in(client, site, "alice@acme-law.com")
    assert client.get("/admin").status_code == 200  # the new role, with a new session


def test_a_deactivated_users_old_session_does_not_come_back_with_the_account(client: TestClient, site: Site) -> None:
    sign_in(client, site, "alice@acme-law.com")
    kept = copy_of_cookie(client, site)  # a copy nobody uses while Alice is deactivated
    with TestClient(site.app, follow_redirects=False) as ada:
        csrf = sign_in(ada, site, "ada@acme-law.com")
        switch = f"/admin/users/{site.world.alice.id}/active"
        ada.post(switch, data={"csrf": csrf, "active": "off"})
        assert flash_of(ada.get("/admin/users").text) == [
            "alice@acme-law.com is deactivated: signed out everywhere, and their mail is no longer captured."]
        assert client.get("/me").status_code == 303
        ada.post(switch, data={"csrf": csrf, "active": "on"})
        assert flash_of(ada.get("/admin/users").text) == ["alice@acme-law.com is active again."]
    with kept:
        assert kept.get("/me").status_code == 303  # the cookie from before stays dead
    sign_in(client, site, "alice@acme-law.com")
    assert client.get("/me").status_code == 200


def test_the_last_administrator_can_neither_demote_nor_deactivate_themselves(client: TestClient, site: Site) -> None:
    csrf = sign_in(client, site, "ada@acme-law.com")
    client.post(f"/admin/users/{site.ada.id}/role", data={"csrf": csrf, "role_id": str(role_id(site, "Standard User"))})
    assert flash_of(client.get("/admin/users").text) == ["Ada@acme-law.com is the company's last active administrator"]
    client.post(f"/admin/users/{site.ada.id}/active", data={"csrf": csrf, "active": "off"})
    assert flash_of(client.get("/admin/users").text) == ["Ada@acme-law.com is the company's last active administrator"]
    assert client.get("/admin").status_code == 200  # still an administrator, still signed in
