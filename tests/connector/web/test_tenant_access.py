"""Tenant-wide access connects the mailboxes the organization really holds, and nobody else's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import select

from connector.crypto import TokenCipher
from connector.db import transaction
from connector.models import Mailbox, Tenant
from connector.services import tenant_access, users
from tests.connector.web.conftest import GRAPH_CLIENT, GRAPH_TENANT, Site, sqlite_only


@pytest.fixture
def consented(site: Site) -> Iterator[None]:
    site.idps.graph.grant_admin_consent(GRAPH_TENANT, GRAPH_CLIENT)
    yield
    site.idps.graph.revoke_admin_consent(GRAPH_TENANT, GRAPH_CLIENT)


def _colleague(site: Site, email: str, name: str) -> None:
    with transaction(site.engine) as session:
        tenant = session.get(Tenant, site.world.tenant.id)
        assert tenant is not None
        users.set_capture(session, users.create_user(session, tenant, email, name), True)


@sqlite_only
def test_microsoft_access_connects_only_users_its_directory_holds_in_the_verified_domain(site: Site,
                                                                                          consented: None) -> None:
    site.idps.sandbox.add_user("grace@acme-law.com", "Grace Google", "gmail")  # her mail is at Google
    _colleague(site, "grace@acme-law.com", "Grace Google")
    site.idps.graph.add_user("pat@acme-partners.example", "Pat Partner", GRAPH_TENANT)
    _colleague(site, "pat@acme-partners.example", "Pat Partner")  # in the tenant, not in the company's domain
    directory = site.context.directory()
    assert directory is not None
    with transaction(site.engine) as session:
        tenant = session.get(Tenant, site.world.tenant.id)
        assert tenant is not None
        count = tenant_access.grant_graph(session, tenant, GRAPH_TENANT, TokenCipher.from_settings(site.settings),
                                          directory)
    with site.world.session() as session:
        connected = sorted(session.exec(select(Mailbox.address).where(Mailbox.provider == "graph")))
    assert count == 2 and connected == ["alice@acme-law.com", "bob@acme-law.com"]
