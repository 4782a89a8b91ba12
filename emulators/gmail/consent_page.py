"""The HTML of the emulated Google sign-in: an account chooser, the requested access in plain words
(the wording of Google's consent screen for each scope), Allow and Cancel — and a banner on every page
saying it is the emulator's, not Google's. One small stylesheet, no scripts, nothing fetched."""

from __future__ import annotations

from html import escape

BANNER = "Emulated Google sign-in — not Google"
# What Google's consent screen says for each scope (https://developers.google.com/identity/protocols/oauth2/scopes).
PLAIN_WORDS = {
    "openid": "Associate you with your personal info on Google",
    "email": "See your primary Google Account email address",
    "https://www.googleapis.com/auth/userinfo.email": "See your primary Google Account email address",
    "profile": "See your personal info, including any personal info you've made publicly available",
    "https://www.googleapis.com/auth/userinfo.profile":
        "See your personal info, including any personal info you've made publicly available",
    "https://www.googleapis.com/auth/gmail.readonly": "View your email messages and settings",
    "https://www.googleapis.com/auth/gmail.metadata":
        "View your email message metadata such as labels and headers, but not the email body",
    "https://mail.google.com/": "Read, compose, send, and permanently delete all your email from Gmail",
    "https://www.googleapis.com/auth/gmail.modify": "Read, compose, and send emails from your Gmail account",
    "https://www.googleapis.com/auth/gmail.send": "Send email on your behalf",
    "https://www.googleapis.com/auth/gmail.compose": "Manage drafts and send emails",
    "https://www.googleapis.com/auth/gmail.settings.basic":
        "See, edit, create, or change your email settings and filters in Gmail",
}
STYLE = """
*{box-sizing:border-box}body{margin:0;min-height:100vh;display:grid;place-items:center;background:#f0f4f9;
font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f1f1f}
main{width:min(440px,94vw);background:#fff;border-radius:24px;padding:28px 32px;box-shadow:0 1px 3px #0002}
.banner{margin:-28px -32px 20px;padding:8px 16px;border-radius:24px 24px 0 0;background:#fff3cd;color:#7a5b00;
font-size:13px;font-weight:600;text-align:center}
h1{font-size:22px;font-weight:500;margin:0 0 4px}h2{font-size:15px;font-weight:500;margin:20px 0 6px}
.sub{margin:0 0 16px;color:#444}fieldset{border:0;margin:0;padding:0}legend{font-size:13px;color:#555;margin-bottom:6px}
.account{display:flex;gap:12px;align-items:center;padding:10px 12px;border:1px solid #dadce0;border-radius:12px;
margin-bottom:8px;cursor:pointer}.account:has(input:checked){border-color:#0b57d0;background:#f5f8ff}
.account input{accent-color:#0b57d0}.avatar{width:32px;height:32px;border-radius:50%;background:#0b57d0;color:#fff;
display:grid;place-items:center;font-weight:600}.who small{color:#555}
ul{margin:0;padding-left:20px}li{margin:4px 0}.actions{display:flex;flex-direction:row-reverse;gap:8px;margin-top:24px}
button{font:inherit;border:0;border-radius:20px;padding:9px 22px;cursor:pointer;background:#0b57d0;color:#fff}
button.secondary{background:transparent;color:#0b57d0}button:focus-visible{outline:2px solid #0b57d0;outline-offset:2px}
"""


def _document(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{escape(title)}</title>'
            f'<style>{STYLE}</style></head><body><main><p class="banner" role="note">{BANNER}</p>{body}'
            f"</main></body></html>")


def _account(address: str, name: str, chosen: bool) -> str:
    initial = escape((name or address)[:1].upper())
    checked = " checked" if chosen else ""
    label = f"<b>{escape(name)}</b><br><small>{escape(address)}</small>" if name else f"<b>{escape(address)}</b>"
    return (f'<label class="account"><input type="radio" name="account" value="{escape(address)}"{checked}>'
            f'<span class="avatar" aria-hidden="true">{initial}</span><span class="who">{label}</span></label>')


def consent_page(ticket: str, client_id: str, accounts: list[tuple[str, str]], chosen: str,
                 scopes: list[str]) -> str:
    """The chooser (``chosen`` selected: the login_hint's account) and the access asked for."""
    app = escape(client_id)
    choices = "".join(_account(address, name, address.lower() == chosen.lower()) for address, name in accounts)
    asked = "".join(f"<li>{escape(PLAIN_WORDS.get(s, s))}</li>" for s in dict.fromkeys(scopes))
    body = (f"<h1>Choose an account</h1><p class=\"sub\">to continue to <b>{app}</b></p>"
            f'<form method="post" action="/o/oauth2/consent"><input type="hidden" name="ticket" value="{ticket}">'
            f"<fieldset><legend>Signed-in accounts</legend>{choices}</fieldset>"
            f"<h2>{app} wants to</h2><ul>{asked}</ul>"
            '<div class="actions"><button name="decision" value="allow" id="submit_approve_access">Allow</button>'
            '<button name="decision" value="deny" id="submit_deny_access" class="secondary">Cancel</button></div>'
            "</form>")
    return _document("Sign in – Google Accounts (emulated)", body)


def error_page(title: str, detail: str) -> str:
    return _document(title, f"<h1>{escape(title)}</h1><p>{escape(detail)}</p>")
