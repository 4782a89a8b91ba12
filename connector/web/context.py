"""What the web app needs from the composition root: database, settings, notification parsers, clock,
consent flows, sign-in providers, the DNS resolver for domain proofs and the channel that delivers
verification codes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fastapi import Request
from sqlalchemy.engine import Engine

from connector.config import Settings
from connector.ports import ConsentFlow, Directory, NotificationParser, SignIn
from connector.services.dns_verify import DnsPythonResolver, TxtResolver
from connector.web.codes import CodeSender, LoggingCodeSender


@dataclass
class AppContext:
    engine: Engine
    settings: Settings
    parsers: Mapping[str, NotificationParser] = field(default_factory=dict)
    consent_flows: Mapping[str, ConsentFlow] = field(default_factory=dict)
    sign_ins: Mapping[str, SignIn] = field(default_factory=dict)  # by URL name: "microsoft", "google"
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    resolver: TxtResolver = field(default_factory=DnsPythonResolver)
    code_sender: CodeSender = field(default_factory=LoggingCodeSender)
    # The console's address as the browser sees it (OAuth redirect URIs); None: the request's own.
    public_url: str | None = None
    # One webhook call may carry this much (Graph batches notifications, a Gmail push is ~1 KB); more is a 413
    # before the rest is read, so neither memory nor the intake's queries grow with what a forger sends.
    webhook_max_bytes: int = 1024 * 1024
    webhook_max_items: int = 1000

    def directory(self) -> Directory | None:
        """Microsoft's directory, asked which users a consenting tenant holds (the Graph adapter's auth)."""
        found = self.consent_flows.get("graph")
        return found if isinstance(found, Directory) else None


def app_context(request: Request) -> AppContext:
    """The context `create_app` put on the app: how routes reach the database, settings and ports."""
    return request.app.state.context  # type: ignore[no-any-return]
