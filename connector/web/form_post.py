"""Identity providers' answers POSTed to a callback (OAuth ``response_mode=form_post``), handed to its GET.

msal asks for ``form_post`` (RFC 9700 §4.3.1: the authorization code never sits in a URL, a browser history
or a Referer). The POST comes from the provider's site, so the browser leaves the console's SameSite=Lax
session cookie off it and the pending sign-in cannot be found there. The POST handler therefore seals the
posted fields into a short-lived cookie scoped to the callback path and answers 303 to the same path; that
top-level GET carries both cookies, and the callback finishes as for a query-mode answer.
"""

from __future__ import annotations

import json
import time

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from connector.errors import ConfigError
from connector.web.security import cipher, external_url

RELAY_COOKIE = "bcc_provider_answer"
RELAY_FLAG = "relayed"
MAX_AGE = 300  # seconds: a sign-in answer older than this is stale anyway

# No CSRF token on these: the POST is the provider's, and it only hands its fields on to the GET, which checks
# the pending flow's state as before. (Consent callbacks have configurable paths: see routes/mailboxes.py.)
router = APIRouter(include_in_schema=False)


async def relay(request: Request) -> Response:
    """Keep the posted answer in a sealed cookie and send the browser to the callback's GET."""
    form = await request.form()
    answer = {key: value for key, value in form.items() if isinstance(value, str)}
    response = RedirectResponse(f"{request.url.path}?{RELAY_FLAG}=1", 303)
    sealed = cipher(request).encrypt(json.dumps({"at": time.time(), "answer": answer}))
    response.set_cookie(RELAY_COOKIE, sealed, max_age=MAX_AGE, path=request.url.path, httponly=True,
                        samesite="lax", secure=external_url(request, "/").startswith("https:"))
    return response


router.add_api_route("/signin/{name}/callback", relay, methods=["POST"])


def provider_answer(request: Request) -> dict[str, str]:
    """What the provider answered the callback: its query, or the fields it posted (relayed)."""
    if request.query_params.get(RELAY_FLAG) != "1":
        return dict(request.query_params)
    expired = {"error": "answer_expired", "error_description": "the sign-in answer expired, please start again"}
    sealed = request.cookies.get(RELAY_COOKIE)
    if not sealed:
        return expired
    try:
        kept = json.loads(cipher(request).decrypt(sealed))
    except (ConfigError, ValueError):
        return expired
    if not isinstance(kept, dict) or time.time() - float(kept.get("at", 0)) > MAX_AGE:
        return expired
    return {str(k): str(v) for k, v in dict(kept.get("answer") or {}).items()}
