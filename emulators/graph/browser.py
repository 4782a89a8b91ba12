"""What a browser does with the identity platform's answer to an authorization request, for scripted clients.

Entra answers either with a 302 to the redirect URI (``response_mode=query``) or, with
``response_mode=form_post`` (which msal recommends: the code never appears in a URL), with a page whose
form the browser posts to the redirect URI at once:
https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow#successful-response.
Tests, the demo and integrators' scripts walk a consent without a browser; this gives them the parameters
the redirect URI would have received, whichever way they came.
"""

from __future__ import annotations

from collections.abc import Mapping
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlsplit


class _FormFields(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action = found.get("action", "")
        elif tag == "input" and found.get("name"):
            self.fields[found["name"]] = found.get("value", "")


def redirect_parameters(status: int, headers: Mapping[str, str], body: str) -> tuple[str, dict[str, str]]:
    """(the redirect URI, the parameters it receives) from one authorize answer."""
    if status in (301, 302, 303, 307):
        location = urlsplit(headers["location"])
        return location._replace(query="").geturl(), dict(parse_qsl(location.query))
    form = _FormFields()
    form.feed(body)
    if not form.action:
        raise ValueError(f"the authorize answer ({status}) is neither a redirect nor a form_post page")
    return form.action, form.fields
