"""The composition root: the only place where the core meets concrete providers.

Everything else receives what it needs (engine, settings, providers, parsers, clock) as arguments.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from connector.config import Settings
from connector.crypto import TokenCipher
from connector.db import make_engine, require_migrated
from connector.ports import ConsentFlow, NotificationParser, Provider, SignIn
from connector.sync.engine import SyncEngine
from connector.sync.worker import Worker
from connector.web.codes import code_sender_for
from connector.web.context import AppContext

Clock = Callable[[], datetime]


@dataclass
class Assembly:
    settings: Settings
    engine: Engine
    cipher: TokenCipher
    providers: dict[str, Provider] = field(default_factory=dict)
    parsers: dict[str, NotificationParser] = field(default_factory=dict)
    consent_flows: dict[str, ConsentFlow] = field(default_factory=dict)
    sign_ins: dict[str, SignIn] = field(default_factory=dict)
    clock: Clock = lambda: datetime.now(UTC)

    def sync_engine(self) -> SyncEngine:
        return SyncEngine(self.engine, self.settings, self.providers, self.cipher, self.clock)

    def worker(self, owner: str | None = None) -> Worker:
        return Worker(self.engine, self.settings, self.sync_engine(), self.providers, owner=owner, clock=self.clock)

    def app_context(self) -> AppContext:
        return AppContext(self.engine, self.settings, self.parsers, consent_flows=self.consent_flows,
                          sign_ins=self.sign_ins, code_sender=code_sender_for(self.settings),
                          clock=self.clock, public_url=self.settings.sync.public_url)


def assemble(settings: Settings, *, check_schema: bool = True, clock: Clock | None = None) -> Assembly:
    engine = make_engine(settings.database.url)
    if check_schema:
        require_migrated(engine)
    assembly = Assembly(settings, engine, TokenCipher.from_settings(settings))
    if clock is not None:
        assembly.clock = clock
    _add_providers(assembly)
    return assembly


# The provider registry: a settings section name → the adapter module. A new provider is one line here
# plus its folder under providers/ (with build, consent_flow and sign_in) and its settings section.
PROVIDERS = {
    "graph": "providers.graph.adapter",
    "gmail": "providers.gmail.adapter",
}


def _add_providers(assembly: Assembly) -> None:
    """Each enabled, configured provider contributes its adapter, push parser, consent flow and sign-in."""
    for name, module_name in PROVIDERS.items():
        section = getattr(assembly.settings, name)
        if not section.enabled or not section.client_id:
            continue
        module = importlib.import_module(module_name)
        provider, parser = module.build(assembly.settings, assembly.clock)
        assembly.providers[name] = provider
        assembly.parsers[name] = parser
        assembly.consent_flows[name] = module.consent_flow(assembly.settings)
        sign_in = module.sign_in(assembly.settings)
        assembly.sign_ins[sign_in.name] = sign_in
