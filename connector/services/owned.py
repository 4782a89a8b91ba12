"""A company's row by id: another company's reads exactly like one that does not exist (NotFound, then 404)."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlmodel import Session

from connector.errors import NotFound
from connector.models import Tenant

Row = TypeVar("Row")


def company_row(session: Session, model: type[Row], row_id: Any, tenant: Tenant, what: str) -> Row:
    """``model`` row ``row_id`` if it is ``tenant``'s; else NotFound("no <what> <row_id>")."""
    row = session.get(model, row_id)
    if row is None or getattr(row, "tenant_id", None) != tenant.id:
        raise NotFound(f"no {what} {row_id}")
    return row
