"""The JSON API of how long mail is kept: retention rules and the disposal register, legal holds, erasure.

A company's API token manages its own rules and holds and may erase a person, exactly as an administrator in
the console; every change is audited with the token's name.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from connector.errors import InputError, NotFound
from connector.models import DisposalRecord, LegalHold, Record, RetentionRule, RetentionTrigger
from connector.services import holds, retention
from connector.services.erasure import erase_person
from connector.storage.factory import blob_store
from connector.web.deps import ApiCaller, AppSettings, DbSession
from connector.web.errors import missing_as_404

NOT_FOUND = {404: {"description": "No such thing in this company"}}
router = APIRouter(prefix="/api/v1", tags=["api"], responses={401: {"description": "Missing or invalid token"}})


class RuleIn(BaseModel):
    years: int = Field(default=0, ge=0, le=100)
    days: int = Field(default=0, ge=0, le=36500)
    trigger: RetentionTrigger = RetentionTrigger.AFTER_CLOSE


class RuleOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"kind": "matter", "years": 7, "days": 0, "trigger": "after_close", "rule": "matter: 7 years after close"}]})
    kind: str
    years: int
    days: int
    trigger: str
    rule: str = Field(description='the rule in words: "matter: 7 years after close"')

    @classmethod
    def of(cls, rule: RetentionRule) -> RuleOut:
        return cls(kind=rule.kind, years=rule.years, days=rule.days, trigger=rule.trigger,
                   rule=retention.describe(rule))


class DisposalOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"activity_id": 101, "internet_message_id": "<g1@acme-law.com>", "rule": "matter: 7 years after close",
         "record_id": 12, "disposed": ["body", "attachments (2)", "original MIME"], "disposed_by": "retention job",
         "disposed_at": "2033-03-11T02:00:00+00:00"}]})
    activity_id: int
    internet_message_id: str
    rule: str
    record_id: int | None
    disposed: list[str] = Field(description="what went: body, attachments (n), original MIME")
    disposed_by: str
    disposed_at: datetime

    @classmethod
    def of(cls, row: DisposalRecord) -> DisposalOut:
        return cls.model_validate(row, from_attributes=True)


class HoldIn(BaseModel):
    record_id: int
    reason: str = Field(min_length=1, max_length=500)


class HoldOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id": 3, "record_id": 12, "record": "matter 10802 Smith v. Jones", "reason": "Litigation expected",
         "placed_by": "ada@acme-law.com", "placed_at": "2026-03-10T09:00:00+00:00", "released_by": "",
         "released_at": None}]})
    id: int
    record_id: int
    record: str
    reason: str
    placed_by: str
    placed_at: datetime
    released_by: str
    released_at: datetime | None

    @classmethod
    def of(cls, hold: LegalHold, record: Record) -> HoldOut:
        assert hold.id is not None
        return cls(id=hold.id, record_id=hold.record_id, record=f"{record.kind} {record.label}", reason=hold.reason,
                   placed_by=hold.placed_by, placed_at=hold.placed_at, released_by=hold.released_by,
                   released_at=hold.released_at)


class ErasureIn(BaseModel):
    address: str = Field(description="the person's e-mail address")
    names: list[str] = Field(default_factory=list, description="other names they went by")
    dry_run: bool = Field(default=True, description="only report what would change (the default: say false)")


class ErasureOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"erasure": "er_5d1c", "pseudonym": "erased-7f3a9c@erased.invalid", "dry_run": True,
         "rows": {"participant": 4, "record": 1, "auditentry": 3}, "originals": 4, "attachments": 1,
         "raw_dropped": 0, "suppressions": [], "held": {"87": 3}}]})
    erasure: str
    pseudonym: str
    dry_run: bool
    rows: dict[str, int] = Field(description="table → rows rewritten")
    originals: int
    attachments: int
    raw_dropped: int
    suppressions: list[str]
    held: dict[str, int] = Field(description="activity id → the legal hold that kept it whole")


def _by(who: ApiCaller) -> str:
    return f"API token {who.token_name}"


@router.get("/retention/rules", response_model=list[RuleOut], summary="Retention rules, one per record kind")
def rules(session: DbSession, who: ApiCaller) -> list[RuleOut]:
    return [RuleOut.of(r) for r in retention.rules(session, who.tenant)]


@router.put("/retention/rules/{kind}", response_model=RuleOut, summary="Set the rule of a record kind")
def set_rule(kind: str, body: RuleIn, session: DbSession, who: ApiCaller) -> RuleOut:
    try:
        rule = retention.set_rule(session, who.tenant, kind, years=body.years, days=body.days,
                                  trigger=body.trigger.value, by=_by(who))
    except InputError as exc:
        raise HTTPException(422, str(exc)) from exc
    session.commit()
    return RuleOut.of(rule)


@router.get("/retention/register", response_model=list[DisposalOut],
            summary="The disposal register: what was disposed of, when, under which rule (never the content)")
def disposal_register(session: DbSession, who: ApiCaller,
                      limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[DisposalOut]:
    return [DisposalOut.of(r) for r in retention.register(session, who.tenant, limit)]


@router.get("/holds", response_model=list[HoldOut], summary="Legal holds, the newest first")
def hold_list(session: DbSession, who: ApiCaller, active: bool = False) -> list[HoldOut]:
    return [HoldOut.of(h, r) for h, r in holds.holds(session, who.tenant, active_only=active)]


@router.post("/holds", response_model=HoldOut, status_code=201, responses=NOT_FOUND,
             summary="Place a legal hold on a record: its mail is neither disposed of, unlogged nor erased")
def place_hold(body: HoldIn, session: DbSession, who: ApiCaller) -> HoldOut:
    from connector.services.records import get_record

    with missing_as_404():
        record = get_record(session, who.tenant, body.record_id)
    hold = holds.place(session, who.tenant, record, body.reason, _by(who))
    session.commit()
    return HoldOut.of(hold, record)


@router.post("/holds/{hold_id}/release", response_model=HoldOut,
             responses={**NOT_FOUND, 409: {"description": "Released already"}}, summary="Release a hold")
def release_hold(hold_id: int, session: DbSession, who: ApiCaller) -> HoldOut:
    from connector.services.records import get_record

    with missing_as_404():
        try:
            hold = holds.release(session, who.tenant, hold_id, _by(who))
        except NotFound:
            raise
        except InputError as exc:  # released already
            raise HTTPException(409, str(exc)) from exc
    session.commit()
    return HoldOut.of(hold, get_record(session, who.tenant, hold.record_id))


@router.post("/erasures", response_model=ErasureOut, responses={409: {"description": "The person is on hold"}},
             summary="Erase a person (GDPR art. 17); a dry run unless dry_run is false")
def erase(body: ErasureIn, session: DbSession, who: ApiCaller, settings: AppSettings) -> ErasureOut:
    try:
        report = erase_person(session, who.tenant, body.address, names=body.names, by=_by(who),
                              dry_run=body.dry_run, store=blob_store(settings, session))
    except holds.OnHold as exc:
        raise HTTPException(409, str(exc)) from exc
    except InputError as exc:
        raise HTTPException(422, str(exc)) from exc
    session.commit()
    return ErasureOut.model_validate(report.summary())
