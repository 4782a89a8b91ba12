"""The emulated Microsoft sign-in and consent page a person sees in a browser (consent mode "page").

Laid out like Entra's "Permissions requested" dialog (who asks, for which account, what it may do, Accept /
Cancel), and labelled on every view as an emulator, so that nobody mistakes it for Microsoft's. Scopes are
explained in the words Microsoft's consent screen uses for them.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping

from .state import App, User

SCOPE_WORDS = {
    "openid": "Sign you in",
    "profile": "View your basic profile",
    "email": "View your email address",
    "offline_access": "Maintain access to data you have given it access to",
    "User.Read": "Sign you in and read your profile",
    "Mail.Read": "Read your mail",
    "Mail.ReadBasic": "Read your mail (without bodies and attachments)",
    "Mail.Send": "Send mail as you",
    "https://graph.microsoft.com/.default": "Everything the administrator has approved for this app",
}

STYLE = """
body{margin:0;font:15px/1.45 "Segoe UI",system-ui,-apple-system,sans-serif;background:#f2f2f2;color:#1b1b1b}
.banner{background:#fff4ce;border-bottom:1px solid #e0c96a;padding:8px 16px;text-align:center;font-size:13px}
.card{max-width:440px;margin:48px auto;background:#fff;padding:36px 44px;box-shadow:0 2px 6px rgba(0,0,0,.2)}
.brand{font-weight:600;color:#5e5e5e;letter-spacing:.02em}
h1{font-size:24px;font-weight:600;margin:16px 0 8px}
.app{margin:0 0 16px;color:#404040} .muted{color:#616161;font-size:13px}
label{display:block;font-weight:600;margin:16px 0 6px}
select{width:100%;padding:8px;font:inherit;border:1px solid #8a8886}
ul{padding-left:20px;margin:8px 0 16px} li{margin:4px 0}
.buttons{display:flex;justify-content:flex-end;gap:8px;margin-top:24px}
button{min-width:108px;padding:8px 12px;font:inherit;border:1px solid #8a8886;background:#fff;cursor:pointer}
button.primary{background:#0067b8;border-color:#0067b8;color:#fff}
"""


def consent_page(app: App, users: Iterable[User], params: Mapping[str, str], *, action: str, hint: str,
                 tenant_wide: bool) -> str:
    """The page; its form posts back to ``action`` with every request parameter, the account and the decision."""
    hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                     for k, v in params.items() if k not in ("decision", "chosen_user"))
    options = "".join(
        f'<option value="{html.escape(u.principal_name)}"'
        f'{" selected" if hint.lower() in (u.address, u.principal_name) else ""}>'
        f"{html.escape(u.display_name)} ({html.escape(u.principal_name)})</option>"
        for u in users)
    scopes = params.get("scope", "https://graph.microsoft.com/.default").split()
    asked = "".join(f"<li>{html.escape(SCOPE_WORDS.get(s, s))}</li>" for s in scopes)
    whom = ("It will have this access for <b>everyone in your organization</b>; nobody else is asked."
            if tenant_wide else "Only you are asked: it gets this access to your own account.")
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Emulated Microsoft sign-in — permissions requested</title><style>{STYLE}</style></head><body>
<div class="banner" role="note"><b>Emulated Microsoft sign-in</b> — a local test emulator, not Microsoft.
No real account or password is involved.</div>
<main class="card"><div class="brand">Microsoft (emulated)</div>
<h1>Permissions requested{" for your organization" if tenant_wide else ""}</h1>
<p class="app"><b>{html.escape(app.display_name)}</b> <span class="muted">app id {html.escape(app.client_id)}</span></p>
<form method="POST" action="{html.escape(action)}">{hidden}
<label for="chosen_user">Account</label><select id="chosen_user" name="chosen_user">{options}</select>
<p>This app would like to:</p><ul>{asked}</ul><p class="muted">{whom}</p>
<div class="buttons"><button type="submit" name="decision" value="deny" id="cancel">Cancel</button>
<button type="submit" name="decision" value="approve" id="accept" class="primary">Accept</button></div>
</form></main></body></html>"""
