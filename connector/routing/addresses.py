"""Dropbox address schemes: what an address at the dropbox domain asks for.

    acme+10802@bcc.example.com        matter 10802 of tenant `acme`              (F1)
    1001.acme@bcc.example.com         project 1001 of tenant `acme`              (F2)
    acme@bcc.example.com              the company address of tenant `acme`       (F2, F11)
    dropbox-k3x9…@bcc.example.com     a user's personal random address           (F3)
    notes@bcc.example.com             the shared address, filed by contacts     (F4)
    case-k3x9…@ / opportunity-k3x9…@ / task-k3x9…@ / task-today-k3x9…@ / task-tomorrow-k3x9…@   (F5)

Parsing is pure: it only reads the address and the settings, never the database.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from enum import StrEnum

from connector.config import DropboxSettings


class Scheme(StrEnum):
    MATTER = "matter"
    PROJECT = "project"
    COMPANY = "company"
    PERSONAL = "personal"
    SHARED = "shared"
    ACTION = "actions"


class Action(StrEnum):
    CASE = "case"
    OPPORTUNITY = "opportunity"
    TASK = "task"
    TASK_TODAY = "task-today"
    TASK_TOMORROW = "task-tomorrow"


TOKEN_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no 0/o/1/l: read aloud or typed without doubt
TOKEN_LENGTH = 12
_TOKEN = rf"[{TOKEN_ALPHABET}]{{{TOKEN_LENGTH}}}"
_SLUG = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_PATTERNS: tuple[tuple[Scheme, re.Pattern[str]], ...] = (
    (Scheme.PERSONAL, re.compile(rf"dropbox-(?P<token>{_TOKEN})")),
    (Scheme.ACTION, re.compile(
        rf"(?P<action>task-today|task-tomorrow|task|case|opportunity)-(?P<token>{_TOKEN})")),
    (Scheme.MATTER, re.compile(rf"(?P<slug>{_SLUG})\+(?P<number>[A-Za-z0-9][A-Za-z0-9._-]*)")),
    (Scheme.PROJECT, re.compile(rf"(?P<number>[0-9]+)\.(?P<slug>{_SLUG})")),
    (Scheme.COMPANY, re.compile(rf"(?P<slug>{_SLUG})")),
)


@dataclass(frozen=True)
class DropboxAddress:
    address: str
    scheme: Scheme
    slug: str = ""
    number: str = ""
    token: str = ""
    action: Action | None = None


def new_token() -> str:
    return "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(TOKEN_LENGTH))


def is_dropbox_domain(address: str, settings: DropboxSettings) -> bool:
    return address.rpartition("@")[2].lower() in settings.domains


def parse_dropbox_address(address: str, settings: DropboxSettings) -> DropboxAddress | None:
    """The scheme an address at a dropbox domain uses, or None when it fits no enabled scheme."""
    local, at, domain = address.strip().lower().rpartition("@")
    if not at or domain not in settings.domains:
        return None
    if local in settings.shared_local_parts:
        return DropboxAddress(address.lower(), Scheme.SHARED) if settings.schemes.shared else None
    for scheme, pattern in _PATTERNS:
        match = pattern.fullmatch(local)
        if match is None:
            continue
        if not getattr(settings.schemes, scheme.value):
            return None
        groups = match.groupdict()
        action = Action(groups["action"]) if groups.get("action") else None
        return DropboxAddress(address.lower(), scheme, slug=groups.get("slug") or "",
                              number=groups.get("number") or "", token=groups.get("token") or "",
                              action=action)
    return None


def personal_address(token: str, domain: str) -> str:
    return f"dropbox-{token}@{domain}"


def action_address(action: Action, token: str, domain: str) -> str:
    return f"{action.value}-{token}@{domain}"


def matter_address(slug: str, number: str, domain: str) -> str:
    return f"{slug}+{number}@{domain}"


def project_address(slug: str, number: str, domain: str) -> str:
    return f"{number}.{slug}@{domain}"


def company_address(slug: str, domain: str) -> str:
    return f"{slug}@{domain}"
