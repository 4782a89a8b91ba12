"""Set-up for the benchmarks and the chaos test: one company, its users, matters and contacts.

The company, role and users go through the services (as the CLI does); for the database-bound
benchmarks, matters and contacts, which can be 100,000 rows, are inserted in bulk.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bench.workload import COMPANY_DOMAIN, TENANT_SLUG, Workload
from connector.db import transaction
from connector.models import Record, Tenant
from connector.services import tenants, users
from connector.services.dns_verify import DnsPythonResolver
from connector.services.records import create_record
from emulators.dns import TxtServer


def user_address(n: int) -> str:
    return f"user{n:03d}@{COMPANY_DOMAIN}"


def contact_address(n: int) -> str:
    return f"contact{n:06d}@client{n % 997:03d}.example"


def enabled_company(session: Session, *, dns: bool = False) -> Tenant:
    """Acme Law with its domain verified, capture enabled and the permission granted to Standard User.

    ``dns``: the domain is proved through the real resolver against a loopback DNS server (the chaos test
    exercises that path); otherwise it is marked verified (set-up, not what is measured).
    """
    tenant = tenants.create_tenant(session, "Acme Law", TENANT_SLUG, domain=COMPANY_DOMAIN)
    if dns:
        with TxtServer({COMPANY_DOMAIN: [tenants.txt_record(tenant)]}) as server:
            tenants.verify_domain(session, tenant, DnsPythonResolver([server.host], server.port))
    else:
        tenant.verified_at = datetime.now(UTC)
        session.add(tenant)
        session.flush()
    tenants.set_enabled(session, tenant, True)
    tenants.grant(session, tenants.get_role(session, tenant, "Standard User"))
    return tenant


def company(engine: Engine, user_count: int) -> tuple[int, list[int]]:
    """The tenant (verified, enabled, permission granted) and its users with capture on."""
    with transaction(engine) as session:
        tenant = enabled_company(session)
        ids = []
        for n in range(user_count):
            user = users.create_user(session, tenant, user_address(n), f"User {n:03d}")
            users.set_capture(session, user, True)
            assert user.id is not None
            ids.append(user.id)
        assert tenant.id is not None
        return tenant.id, ids


def workload_company(engine: Engine, workload: Workload, *, dns: bool = False) -> None:
    """The company of a generated workload: its users (capture on) and matters, through the services."""
    with transaction(engine) as session:
        tenant = enabled_company(session, dns=dns)
        for person in workload.users:
            user = users.create_user(session, tenant, person.address, person.name)
            users.set_capture(session, user, True)
        for number in workload.matters:
            create_record(session, tenant, "matter", number=number, title=f"Matter {number}")


def records(engine: Engine, tenant_id: int, matters: int, contacts: int, start_contact: int = 0) -> None:
    now = datetime.now(UTC)
    with engine.begin() as conn:
        if matters:
            conn.execute(insert(Record), [
                {"tenant_id": tenant_id, "kind": "matter", "number": str(10000 + n), "title": f"Matter {n}",
                 "status": "open", "created_at": now} for n in range(matters)])
        for start in range(start_contact, start_contact + contacts, 20_000):
            stop = min(start + 20_000, start_contact + contacts)
            conn.execute(insert(Record), [
                {"tenant_id": tenant_id, "kind": "contact", "email": contact_address(n), "last_name": f"Contact {n}",
                 "title": f"Contact {n}", "status": "open", "created_at": now} for n in range(start, stop)])
