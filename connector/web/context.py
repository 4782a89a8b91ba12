"""What the web app needs from the composition root: database, settings, notification parsers, clock."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from connector.config import Settings
from providers.base import ConsentFlow, NotificationParser


@dataclass
class AppContext:
    engine: Engine
    settings: Settings
    parsers: Mapping[str, NotificationParser] = field(default_factory=dict)
    consent_flows: Mapping[str, ConsentFlow] = field(default_factory=dict)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
