"""Terminal rendering of the Communications tab, the unassigned list and the audit (rich).

Everything taken from mail is hostile: it is shown as plain `Text` (never parsed as Rich markup, so a
subject like ``Hello [/bold] team`` is just text) with control characters removed (terminal escape
sequences could clear the screen, hide text or plant hyperlinks) and bidirectional overrides dropped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.markup import escape
from rich.measure import Measurement
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:  # a command imports the services it reads; rendering their rows needs none of them
    from connector.models import AuditEntry, Unassigned
    from connector.services.mailboxes import Health
    from connector.services.views import MessageRow, ThreadRow

_ARROW = {"sent": "→ sent", "received": "← received"}
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clean(text: object) -> str:
    """Mail text fit for a terminal: no control characters, no bidirectional overrides."""
    return _UNSAFE.sub("", str(text))


def _cell(text: object) -> Text:
    return Text(clean(text))


def _print(console: Console, table: Table) -> None:
    """A terminal's width is the reader's; piped output (a file, `grep`, a ticket) has none, so a table goes
    out at its natural width there, not cut at 80 columns ("alice@ac…" cannot be searched for or copied)."""
    if console.is_terminal:
        console.print(table)
        return
    width = console.width
    console.width = max(width, Measurement.get(console, console.options.update_width(10_000), table).maximum)
    try:
        console.print(table)
    finally:
        console.width = width


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "(no date)"


def _excerpt(text: str, lines: int = 4, width: int = 100) -> str:
    kept = [clean(line).rstrip() for line in text.strip().splitlines() if line.strip()][:lines]
    return "\n".join(line if len(line) <= width else line[: width - 1] + "…" for line in kept)


def _message(row: MessageRow) -> Group:
    head = Text()
    head.append(f"{_ARROW.get(row.direction, row.direction)}  ", style="bold cyan")
    head.append(clean(row.subject), style="bold")
    head.append(f"   {when(row.sent_at)}", style="dim")
    people = clean(", ".join(f"{email} ({role}, {kind})" for email, role, kind in row.participants))
    details = Text()
    details.append("from ", style="dim")
    details.append(f"{clean(row.from_)}   ")
    details.append("owner ", style="dim")
    details.append(clean(row.owner or "-"))
    details.append("\nparticipants ", style="dim")
    details.append(people or "-")
    details.append("\nfiled under ", style="dim")
    details.append(clean("; ".join(row.filed_under) or "-"), style="green")
    details.append("\nseen in ", style="dim")
    details.append(clean(", ".join(row.sources)))
    parts: list[Text] = [head, details]
    if row.attachments:
        names = ", ".join(f"{name} ({size:,} bytes)" for _, name, size in row.attachments)
        parts.append(Text("attachments: " + clean(names), style="magenta"))
    for note in row.notes:
        parts.append(Text(f"note: {clean(note)}", style="yellow"))
    excerpt = _excerpt(row.text)
    if excerpt:
        parts.append(Text(excerpt, style="italic"))
    return Group(*parts, Text(""))


def communications(console: Console, title: str, threads: Sequence[ThreadRow]) -> None:
    if not threads:
        console.print(Panel("No e-mail logged yet.", title=title))
        return
    for thread in threads:
        body = Group(*(_message(m) for m in thread.messages))
        count = len(thread.messages)
        subject = escape(clean(thread.subject))
        console.print(Panel(body, title=f"[bold]{escape(title)}[/] · thread “{subject}” · {count} message(s)",
                            title_align="left", border_style="blue"))


def unassigned(console: Console, rows: Sequence[Unassigned]) -> None:
    table = Table(title="Unassigned e-mails (link them to contacts)", title_justify="left")
    for column in ("id", "from", "subject", "sent", "body"):
        table.add_column(column)
    for row in rows:
        table.add_row(str(row.id), _cell(row.from_email), _cell(row.subject), when(row.sent_at),
                      Text(_excerpt(row.text, 2, 60)))
    _print(console, table)


def audit(console: Console, rows: Sequence[AuditEntry], title: str = "Audit") -> None:
    table = Table(title=title, title_justify="left")
    for column in ("when", "action", "reason", "from", "subject", "message-id"):
        table.add_column(column)
    for row in rows:
        detail = row.detail or {}
        table.add_row(when(row.at), row.action, row.reason, _cell(detail.get("from", "")),
                      _cell(detail.get("subject", "")), _cell(_message_ids(row)))
    _print(console, table)


def _message_ids(row: AuditEntry) -> str:
    """The entry's message, or the messages a page view showed (`connector.services.access_log`), one a line."""
    shown = (row.detail or {}).get("shown")
    if row.internet_message_id or not isinstance(shown, list):
        return row.internet_message_id
    return "\n".join(str(pair[1]) for pair in shown if isinstance(pair, list) and len(pair) == 2)


def mailboxes(console: Console, rows: Sequence[Health]) -> None:
    table = Table(title="Connected mailboxes", title_justify="left")
    for column in ("id", "mailbox", "provider", "status", "last sync", "backlog", "logged", "last error"):
        table.add_column(column)
    colours = {"synced": "green", "syncing": "cyan", "connecting": "cyan", "retrying": "yellow",
               "resyncing": "yellow", "paused": "white", "failing": "red", "needs_reconnect": "red"}
    for row in rows:
        table.add_row(str(row.mailbox_id), _cell(row.address), row.provider,
                      Text(row.status, style=colours.get(row.status, "white")), when(row.last_success_at),
                      str(row.backlog), str(row.messages_logged), _cell(row.last_error[:60]))
    _print(console, table)


def as_json(value: object) -> str:
    return json.dumps(value, indent=2, default=str, ensure_ascii=False)
