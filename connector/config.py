"""Settings: `settings.yaml` overlaid by `BCC_CAPTURE_…` environment variables.

Nested keys use a double underscore: ``BCC_CAPTURE_DATABASE__URL``. The settings file is
``$BCC_CAPTURE_SETTINGS`` or ``./settings.yaml``; without either the defaults below apply (they
equal the shipped file). The secret key is read from the environment only. `get_settings()` is
the one entry point; nothing is read at import time.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from enum import StrEnum
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from connector.errors import ConfigError
from connector.events.settings import EventSettings
from connector.storage.settings import SesS3Settings, StorageSettings
from connector.sync.settings import SyncSettings

ENV_PREFIX = "BCC_CAPTURE_"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SearchPattern(StrEnum):
    CONTACTS_ONLY = "contacts_only"
    LEADS_ONLY = "leads_only"
    CONTACTS_THEN_LEADS = "contacts_then_leads"


class DatabaseSettings(Strict):
    url: str = "sqlite:///./var/bcc-capture.db"


class SchemeSettings(Strict):
    matter: bool = True
    project: bool = True
    company: bool = True
    personal: bool = True
    shared: bool = True
    actions: bool = True


class DropboxSettings(Strict):
    domains: tuple[str, ...] = ("bcc.example.com",)
    shared_local_parts: tuple[str, ...] = ("notes",)
    schemes: SchemeSettings = SchemeSettings()

    @field_validator("domains", "shared_local_parts")
    @classmethod
    def _lower_nonempty(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(v.strip().lower() for v in value if v.strip())
        if not cleaned:
            raise ValueError("at least one value is required")
        return cleaned


class AttachmentSettings(Strict):
    max_total_bytes: int = Field(default=10 * 1024 * 1024, gt=0)


class ActivitySettings(Strict):
    type: str = Field(default="Email", min_length=1)
    performed_by: str = Field(default="Email Capture", min_length=1)
    status: str = Field(default="Completed", min_length=1)


class ContactSettings(Strict):
    search_pattern: SearchPattern = SearchPattern.CONTACTS_THEN_LEADS
    create_as: str = Field(default="contact", pattern="^(contact|lead)$")


class SenderSettings(Strict):
    max_extra_addresses: int = Field(default=5, ge=0, le=20)


class ImportSettings(Strict):
    """Archives uploaded in the console or through the API, imported by the workers."""

    spool_dir: str = "./var/imports"  # uploads are written here (streamed), one folder per import
    max_upload_bytes: int = Field(default=1024**3, gt=0)  # a larger upload is refused with 413
    max_unpacked_bytes: int = Field(default=4 * 1024**3, gt=0)  # what a .zip may unpack to (zip bombs)
    lease_seconds: float = Field(default=60, gt=0)  # a killed worker's import is resumed by another after this
    poll_seconds: float = Field(default=2.0, gt=0)  # idle workers look for new imports this often


class GraphSettings(Strict):
    enabled: bool = True
    client_id: str = ""
    client_secret: str | None = None  # env: BCC_CAPTURE_GRAPH__CLIENT_SECRET
    # A PEM file with the app's certificate and its private key: Microsoft recommends certificate credentials
    # over secrets (which expire); when set, it is used instead of client_secret.
    client_certificate_file: str | None = None
    authority_host: str = "https://login.microsoftonline.com"
    tenant: str = "common"
    graph_url: str = "https://graph.microsoft.com/v1.0"
    redirect_path: str = "/oauth/graph/callback"
    ca_bundle: str | None = None  # only for the emulator's throwaway CA


class GmailSettings(Strict):
    enabled: bool = True
    client_id: str = ""
    client_secret: str | None = None  # env: BCC_CAPTURE_GMAIL__CLIENT_SECRET
    auth_uri: str = "https://accounts.google.com/o/oauth2/auth"
    token_uri: str = "https://oauth2.googleapis.com/token"
    api_endpoint: str = "https://gmail.googleapis.com/"
    redirect_path: str = "/oauth/gmail/callback"
    topic_name: str = ""  # projects/<project>/topics/<topic> that Gmail publishes to
    project_id: str = ""  # the Cloud project of client_id: users.watch accepts only topics in it
    # The audience set on the push subscription (default: the endpoint URL). Required when sync.public_url is
    # https: the connector serves plain HTTP, so a TLS-terminating proxy is in front and the request URL is not
    # the endpoint Pub/Sub signed for.
    push_audience: str = ""
    push_service_account: str = ""  # the service account the push subscription authenticates as
    push_certs_url: str = "https://www.googleapis.com/oauth2/v1/certs"
    service_account_file: str | None = None  # domain-wide delegation for Workspace
    quota_units: dict[str, int] = {}  # method id → quota units, replacing providers/gmail/quota.py's figures


class SenderAuthentication(StrEnum):
    REQUIRED = "required"  # the From domain must authenticate: aligned DMARC pass, or aligned DKIM/SPF without DMARC
    DOMAIN_POLICY = "domain_policy"  # quarantine only what the domain's own DMARC p=quarantine/reject fails
    OFF = "off"  # trust the From header as before (no DNS look-ups): for a trial behind another filtering MTA


class LimitSettings(Strict):
    """Requests per client address and minute, per area (0: no limit); over it the answer is 429."""

    signin: int = Field(default=60, ge=0)  # sign-in pages and OAuth callbacks: a person signs in a few times a day
    api: int = Field(default=1200, ge=0)  # the JSON API, per calling address
    webhooks: int = Field(default=6000, ge=0)  # Microsoft and Google push from few addresses, in bursts
    inbound: int = Field(default=1200, ge=0)  # Postmark, Mailgun, SendGrid, SES
    console: int = Field(default=1200, ge=0)  # every other page


class SmtpSettings(Strict):
    """The dropbox's own SMTP listener (`bcc-capture smtp`), the MX of the dropbox domain(s)."""

    enabled: bool = False  # `bcc-capture serve` runs the listener and its filers too (`bcc-capture smtp` always does)
    host: str = "127.0.0.1"
    port: int = Field(default=2525, ge=0, le=65535)  # 0: any free port
    hostname: str = ""  # the name in the greeting and Authentication-Results ("": the first dropbox domain)
    max_message_bytes: int = Field(default=25 * 1024 * 1024, gt=0)  # advertised as SIZE; larger mail gets 552
    max_recipients: int = Field(default=20, ge=1)  # per message; more get 452
    max_connections_per_peer: int = Field(default=10, ge=1)  # simultaneous, per client IP; more get 421
    max_messages_per_peer_per_minute: int = Field(default=120, ge=1)  # per client IP; more get 450
    timeout_seconds: float = Field(default=300, gt=0)  # an idle session is closed after this
    tls_cert: str | None = None  # PEM certificate (chain) offered with STARTTLS; none: no STARTTLS
    tls_key: str | None = None  # its PEM private key
    require_tls: bool = False  # refuse MAIL before STARTTLS
    resolver: str = ""  # host[:port] of the DNS server for SPF/DKIM/DMARC ("": the system's resolvers)
    dns_timeout_seconds: float = Field(default=5, gt=0)
    authentication: SenderAuthentication = SenderAuthentication.REQUIRED
    trusted_arc_sealers: tuple[str, ...] = ()  # forwarders whose ARC seal vouches for a DMARC pass upstream
    filing_workers: int = Field(default=2, ge=0)  # threads filing spooled mail beside the listener
    filing_poll_seconds: float = Field(default=1.0, gt=0)  # idle filers look for spooled mail this often
    max_filing_attempts: int = Field(default=8, ge=1)  # then the message is quarantined as unfileable

    @model_validator(mode="after")
    def _cert_and_key(self) -> SmtpSettings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        return self


class InboundSettings(SesS3Settings, Strict):
    """Inbound-mail services posting received mail to /webhooks/inbound/… (docs/dropbox.md): each endpoint
    answers 404 until its secret is set. Secrets come from the environment (or ``…_FILE``) only."""

    postmark_username: str = "postmark"  # the user in the webhook URL's basic auth (https://user:password@…)
    postmark_password: str | None = None  # env: BCC_CAPTURE_INBOUND__POSTMARK_PASSWORD
    mailgun_signing_key: str | None = None  # env: BCC_CAPTURE_INBOUND__MAILGUN_SIGNING_KEY ("HTTP webhook signing key")
    sendgrid_username: str = "sendgrid"
    sendgrid_password: str | None = None  # env: BCC_CAPTURE_INBOUND__SENDGRID_PASSWORD (basic auth in the URL)
    sendgrid_public_key: str = ""  # the Parse security policy's ECDSA public key (base64 DER or PEM): calls signed
    ses_topic_arns: tuple[str, ...] = ()  # the SNS topics the SES receipt rule publishes to; none: SES is off


class OutboundSecurity(StrEnum):
    STARTTLS = "starttls"  # submission on 587, upgraded with STARTTLS (RFC 6409, RFC 3207)
    TLS = "tls"  # implicit TLS from the first byte, port 465 (RFC 8314)
    NONE = "none"  # plain text: only to a relay on this machine


_LOOPBACK = ("127.0.0.1", "::1", "localhost")


class OutboundSettings(Strict):
    """Mail the product sends (sender verification codes, notices), through a submission server.
    ``host: ""``: nothing is sent (development): the CLI shows a code to the operator who asked for it."""

    host: str = ""
    port: int = Field(default=587, ge=1, le=65535)
    security: OutboundSecurity = OutboundSecurity.STARTTLS
    username: str = ""
    password: str | None = None  # env: BCC_CAPTURE_OUTBOUND__PASSWORD
    sender: str = ""  # the From: of what is sent ("": bcc-capture <no-reply@first dropbox domain>)
    ca_file: str | None = None  # trust this CA for the server's certificate (a private CA); none: the system's
    timeout_seconds: float = Field(default=30, gt=0)
    quarantine_notices_per_hour: int = Field(default=5, ge=0)  # per user: a forger must not flood a mailbox

    @model_validator(mode="after")
    def _no_password_in_clear(self) -> OutboundSettings:
        if self.security is OutboundSecurity.NONE and self.password and self.host not in _LOOPBACK:
            raise ValueError("a password is sent only over TLS: use security starttls or tls")
        return self


class Mode(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True
    )

    mode: Mode = Mode.DEVELOPMENT
    secret_key: str | None = None
    database: DatabaseSettings = DatabaseSettings()
    dropbox: DropboxSettings = DropboxSettings()
    attachments: AttachmentSettings = AttachmentSettings()
    activity: ActivitySettings = ActivitySettings()
    contacts: ContactSettings = ContactSettings()
    senders: SenderSettings = SenderSettings()
    sync: SyncSettings = SyncSettings()
    limits: LimitSettings = LimitSettings()
    storage: StorageSettings = StorageSettings()
    imports: ImportSettings = ImportSettings()
    graph: GraphSettings = GraphSettings()
    gmail: GmailSettings = GmailSettings()
    smtp: SmtpSettings = SmtpSettings()
    inbound: InboundSettings = InboundSettings()
    outbound: OutboundSettings = OutboundSettings()
    events: EventSettings = EventSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, _EnvWithoutFiles(settings_cls), _YamlSource(settings_cls))


class _EnvWithoutFiles(EnvSettingsSource):
    """The environment, less ``…_FILE`` variables: those name files the settings are read from."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {name: value for name, value in super()._load_env_vars().items()
                if not name.endswith("_file") or _names_a_setting(name)}


class _YamlSource(PydanticBaseSettingsSource):
    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = settings_path()
        if path is None:
            return {}
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(str(path), f"is not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(str(path), "must be a mapping of settings")
        if "secret_key" in data:
            raise ConfigError("secret_key", f"must come from the environment ({ENV_PREFIX}SECRET_KEY), "
                              f"not from {path}")
        for section, key in _SECRETS:
            if key in (data.get(section) or {}):
                raise ConfigError(f"{section}.{key}", f"must come from the environment "
                                  f"({ENV_PREFIX}{section.upper()}__{key.upper()} or …_FILE), not from {path}")
        return data


# Secrets of the inbound, outbound and storage sections: like the secret key, never read from the settings file.
_SECRETS = (("inbound", "postmark_password"), ("inbound", "mailgun_signing_key"), ("inbound", "sendgrid_password"),
            ("outbound", "password"), ("inbound", "ses_s3_secret_access_key"),
            ("storage", "secret_access_key"))


def settings_path() -> Path | None:
    explicit = os.environ.get(f"{ENV_PREFIX}SETTINGS")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"{ENV_PREFIX}SETTINGS", f"no settings file at {path}")
        return path
    local = Path("settings.yaml")
    if local.is_file():
        return local
    _say_once(f"note: no settings.yaml in {Path.cwd()} and {ENV_PREFIX}SETTINGS unset: built-in defaults and "
              f"{ENV_PREFIX}* variables only")
    return None


@cache
def _say_once(message: str) -> None:
    print(message, file=sys.stderr)


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning validation errors into a ConfigError that names the key."""
    _warn_about_unknown_variables()
    try:
        settings = Settings(**{**_secret_files(), **overrides})
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "settings"
        raise ConfigError(key, first["msg"]) from exc
    if settings.mode is Mode.PRODUCTION and not settings.secret_key:
        raise ConfigError("secret_key", f"is required in production mode: set {ENV_PREFIX}SECRET_KEY")
    return settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def _secret_files() -> dict[str, Any]:
    """``BCC_CAPTURE_<NAME>_FILE=/run/secrets/x``: the setting ``<NAME>`` read from that file (container
    secrets), unless ``BCC_CAPTURE_<NAME>`` itself is set."""
    values: dict[str, Any] = {}
    for name, path in os.environ.items():
        if not (name.startswith(ENV_PREFIX) and name.endswith("_FILE")) or name.removesuffix("_FILE") in os.environ \
                or _names_a_setting(name):
            continue
        try:
            secret = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(name, f"cannot read {path}: {exc.strerror}") from exc
        *sections, key = name.removeprefix(ENV_PREFIX).removesuffix("_FILE").lower().split("__")
        target = values
        for section in sections:
            target = target.setdefault(section, {})
        target[key] = secret
    return values


def _names_a_setting(env_name: str) -> bool:
    """``BCC_CAPTURE_GMAIL__SERVICE_ACCOUNT_FILE`` is the setting ``gmail.service_account_file`` itself, not a
    file holding ``gmail.service_account``: a setting whose own name ends in ``_file`` is set like any other."""
    *sections, key = env_name.upper().removeprefix(ENV_PREFIX).lower().split("__")
    model: type[BaseModel] = Settings
    for section in sections:
        field = model.model_fields.get(section)
        annotation = field.annotation if field is not None else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return False
        model = annotation
    return key in model.model_fields


# Variables with the prefix that are not settings: where the settings file is, and the test harness's own.
_NOT_SETTINGS = frozenset({"SETTINGS", "TEST_PG", "CHAOS"})


def _warn_about_unknown_variables() -> None:
    """A misspelled ``BCC_CAPTURE_*`` variable would be silently ignored: name it on stderr."""
    sections = Settings.model_fields
    for name in os.environ:
        if not name.startswith(ENV_PREFIX) or name.endswith("_FILE") or name.removeprefix(ENV_PREFIX) in _NOT_SETTINGS:
            continue
        section, _, key = name.removeprefix(ENV_PREFIX).lower().partition("__")
        field = sections.get(section)
        known = field is not None and (not key or key in getattr(field.annotation, "model_fields", {}))
        if not known:
            print(f"warning: {name} is not a bcc-capture setting and is ignored", file=sys.stderr)
