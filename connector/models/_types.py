"""Column helpers shared by the table modules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON
from sqlmodel import Field

from connector.db import UTCDateTime, utcnow


def created_at() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


def updated_at() -> Any:
    """Set on insert by the ORM and by Core INSERTs alike (the bulk writer's rows name no such column)."""
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, sa_column_kwargs={"default": utcnow})


def timestamp(nullable: bool = True, **kw: Any) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, **kw)


def json_list() -> Any:
    return Field(default_factory=list, sa_type=JSON, nullable=False)


def json_dict() -> Any:
    return Field(default_factory=dict, sa_type=JSON, nullable=False)


__all__ = ["created_at", "datetime", "json_dict", "json_list", "timestamp", "updated_at"]
