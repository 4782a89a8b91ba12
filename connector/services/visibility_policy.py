"""Changing who sees logged mail: the company's default (administrators) and one e-mail's own (its owner or an
administrator). Every change is audited with the value before and after; the filter that applies them all is
`connector/services/visibility.py`."""

from __future__ import annotations

from sqlmodel import Session

from connector.db import utcnow
from connector.errors import InputError
from connector.models import Activity, ActivityVisibility, AuditEntry, Tenant, Visibility, VisibilityPolicy
from connector.services.activities import get_activity, require_owner_or_admin
from connector.services.visibility import Reader, company_visibility

POLICY = "policy"  # an e-mail's setting that follows the company's default
DESCRIBED = {Visibility.OWNER.value: "its owner only (and administrators)",
             Visibility.TEAM.value: "its owner, the users on it and the team of each matter or project it is filed "
                                    "under",
             Visibility.COMPANY.value: "everyone in the company"}


def parse(value: str, allow_policy: bool = False) -> Visibility | None:
    """A visibility from a form or the API; None for "follow the company's policy" when allowed."""
    text = value.strip().lower()
    if allow_policy and text == POLICY:
        return None
    try:
        return Visibility(text)
    except ValueError:
        choices = [v.value for v in Visibility] + ([POLICY] if allow_policy else [])
        raise InputError(f"visibility must be one of {', '.join(choices)}, not {value!r}") from None


def set_company_visibility(session: Session, tenant: Tenant, value: str, by: str) -> Visibility:
    """The default for every e-mail whose owner did not choose: applies at once, to old mail too."""
    wanted = parse(value)
    assert wanted is not None and tenant.id is not None
    before = company_visibility(session, tenant.id)
    policy = session.get(VisibilityPolicy, tenant.id) or VisibilityPolicy(tenant_id=tenant.id)
    policy.visibility, policy.changed_by, policy.changed_at = wanted.value, by, utcnow()
    session.add(policy)
    session.add(AuditEntry(tenant_id=tenant.id, action="visibility.policy_changed", reason="company",
                           detail={"by": by, "before": before.value, "after": wanted.value}))
    session.flush()
    return wanted


def chosen_visibility(session: Session, activity_id: int) -> Visibility | None:
    row = session.get(ActivityVisibility, activity_id)
    return Visibility(row.visibility) if row is not None else None


def set_activity_visibility(session: Session, tenant: Tenant, activity_id: int, value: str, *, reader: Reader,
                            by: str) -> Activity:
    """Who sees one e-mail: ``owner``, ``team``, ``company``, or ``policy`` (the company's default again)."""
    activity = get_activity(session, tenant, activity_id, reader)
    require_owner_or_admin(activity, reader, "change who sees it")
    wanted = parse(value, allow_policy=True)
    row = session.get(ActivityVisibility, activity_id)
    before = row.visibility if row is not None else POLICY
    if wanted is None:
        if row is not None:
            session.delete(row)
    else:
        row = row or ActivityVisibility(activity_id=activity_id, visibility=wanted.value)
        row.visibility, row.set_by, row.set_at = wanted.value, by, utcnow()
        session.add(row)
    session.add(AuditEntry(tenant_id=tenant.id, action="activity.visibility_changed", reason=POLICY if wanted is None
                           else wanted.value, internet_message_id=activity.internet_message_id,
                           detail={"by": by, "activity_id": activity_id, "before": before,
                                   "after": wanted.value if wanted else POLICY}))
    session.flush()
    return activity
