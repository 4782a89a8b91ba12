"""Jinja2 templates (autoescaped) and `render_page`, which every console page goes through."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from connector.services.reasons import explain_reason
from connector.web.security import Viewer, csrf_token, pop_flashes

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))

NAV = (("/records", "Records"), ("/unassigned", "Unassigned"), ("/quarantine", "Quarantine"), ("/audit", "Audit"),
       ("/mailboxes", "Mailboxes"), ("/me", "My settings"))

STATUS_TEXT = {
    "synced": "Up to date",
    "syncing": "Catching up",
    "retrying": "Retrying after an error",
    "resyncing": "Re-reading recent mail",
    "connecting": "Connecting",
    "needs_reconnect": "Access revoked — reconnect",
    "paused": "Paused",
    "failing": "Failing",
}


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _when(moment: datetime | None, zone: str = "UTC") -> str:
    if moment is None:
        return "—"
    local = moment.astimezone(_zone(zone))
    return local.strftime("%d %b %Y, %H:%M ") + (local.tzname() or "")


def _size(count: int) -> str:
    for unit in ("bytes", "KB", "MB"):
        if count < 1024 or unit == "MB":
            return f"{count:,} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count = count / 1024  # type: ignore[assignment]
    return str(count)


templates.env.filters["when"] = _when
templates.env.filters["size"] = _size
templates.env.globals["explain_reason"] = explain_reason
templates.env.globals["status_text"] = STATUS_TEXT


def render_page(request: Request, name: str, viewer: Viewer | None, status_code: int = 200,
                **values: Any) -> HTMLResponse:
    """The template with what every page shows: who is signed in, the CSRF token, flashes, the navigation."""
    values.update(viewer=viewer, csrf=csrf_token(request), flashes=pop_flashes(request), nav=NAV,
                  path=request.url.path, zone=viewer.user.timezone if viewer else "UTC")
    return templates.TemplateResponse(request, name, values, status_code=status_code)
