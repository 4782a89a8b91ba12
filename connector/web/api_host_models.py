"""The shapes of the host system's side of the API: records and users by external id, event webhooks."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from connector.events.outbox import EventType
from connector.models import User, WebhookEndpoint
from connector.services.event_webhooks import LoggedDelivery
from connector.services.host_records import MAX_EXTERNAL_ID, RecordFields
from connector.services.host_users import UserFields

EXAMPLE_TIME = "2026-03-10T09:00:00+00:00"


class RecordIn(BaseModel):
    """A record as the host system has it; PUT it whole (what is left out takes its default)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"number": "10802", "title": "Smith v. Jones", "status": "open"},
        {"email": "carol@clientco.com", "first_name": "Carol", "last_name": "Client",
         "customer_external_id": "CUST-17"}]})
    number: str | None = Field(default=None, max_length=100,
                               description="a matter's or project's number, a case's reference; required for those")
    title: str = Field(default="", max_length=500)
    email: str | None = Field(default=None, max_length=320, description="a contact's or lead's address; required "
                                                                        "for those")
    first_name: str = Field(default="", max_length=200)
    last_name: str = Field(default="", max_length=200)
    status: str = Field(default="open", max_length=100)
    customer_external_id: str | None = Field(default=None, max_length=MAX_EXTERNAL_ID,
                                             description="the customer a contact belongs to (PUT it first)")
    archived: bool = Field(default=False, description="true archives it (its mail is kept), false restores it")

    def fields(self) -> RecordFields:
        return RecordFields(**self.model_dump())


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"email": "alice@acme-law.com", "name": "Alice Archer", "role": "Standard User"}]})
    email: str = Field(max_length=320, description="the login address (always an authorized sender)")
    name: str = Field(default="", max_length=200)
    role: str = Field(default="Standard User", description="a role of the company: Administrator, Standard "
                                                           "User or one it added")
    active: bool = Field(default=True, description="false deactivates: signed out, capture paused, mail kept")

    def fields(self) -> UserFields:
        return UserFields(**self.model_dump())


class UserOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id": 3, "external_id": "EMP-0042", "email": "alice@acme-law.com", "name": "Alice Archer",
         "role": "Standard User", "active": True, "capture_enabled": True, "updated_at": EXAMPLE_TIME}]})
    id: int
    external_id: str | None
    email: str
    name: str
    role: str
    active: bool
    capture_enabled: bool
    updated_at: datetime

    @classmethod
    def of(cls, user: User, roles: dict[int, str]) -> UserOut:
        assert user.id is not None
        return cls(id=user.id, external_id=user.external_id, email=user.email, name=user.name,
                   role=roles.get(user.role_id or 0, ""), active=user.active, capture_enabled=user.capture_enabled,
                   updated_at=user.updated_at)


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"url": "https://crm.example.com/hooks/bcc-capture", "event_types": ["activity.logged", "activity.unlogged"],
         "description": "CRM timeline"}]})
    url: str = Field(max_length=2000, description="https:// (or http://) on a public address")
    event_types: list[EventType] = Field(default_factory=list, description="empty: every type")
    description: str = Field(default="", max_length=200)


class EndpointOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id": 1, "url": "https://crm.example.com/hooks/bcc-capture", "description": "CRM timeline",
         "event_types": ["activity.logged"], "active": True, "created_at": EXAMPLE_TIME}]})
    id: int
    url: str
    description: str
    event_types: list[str] = Field(description="empty: every type")
    active: bool
    created_at: datetime


class EndpointCreated(EndpointOut):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id": 1, "url": "https://crm.example.com/hooks/bcc-capture", "description": "CRM timeline",
         "event_types": [], "active": True, "created_at": EXAMPLE_TIME,
         "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}]})
    secret: str = Field(description="the signing secret: shown only now, keep it with the receiver")


class DeliveryOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id": 7, "endpoint_id": 1, "url": "https://crm.example.com/hooks/bcc-capture",
         "event_id": "evt_5f0c6f0e2b6a4d4e9a3c1b2d3e4f5a6b", "event_type": "activity.logged",
         "status": "delivered", "attempts": 3, "response_code": 200, "last_error": "",
         "last_attempt_at": EXAMPLE_TIME, "next_attempt_at": None, "delivered_at": EXAMPLE_TIME}]})
    id: int
    endpoint_id: int
    url: str
    event_id: str = Field(description="the webhook-id header: the same on every attempt")
    event_type: str
    status: str = Field(description="pending, delivered or failed (given up after a day of retries)")
    attempts: int
    response_code: int | None
    last_error: str
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None

    @classmethod
    def of(cls, row: LoggedDelivery) -> DeliveryOut:
        d = row.delivery
        assert d.id is not None
        return cls(id=d.id, endpoint_id=d.endpoint_id, url=row.url, event_id=d.event_id, event_type=row.event.type,
                   status=d.status, attempts=d.attempts, response_code=d.response_code, last_error=d.last_error,
                   last_attempt_at=d.last_attempt_at, next_attempt_at=d.next_attempt_at, delivered_at=d.delivered_at)


def endpoint_out(endpoint: WebhookEndpoint) -> EndpointOut:
    assert endpoint.id is not None
    return EndpointOut(id=endpoint.id, url=endpoint.url, description=endpoint.description,
                       event_types=list(endpoint.event_types), active=endpoint.active, created_at=endpoint.created_at)
