"""The pattern every console form follows: one transaction, a flash message, a redirect (POST → 303 → GET)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import HTTPException, Request
from fastapi.responses import RedirectResponse
from sqlmodel import Session

from connector.db import transaction
from connector.errors import DnsVerificationError, InputError, NotFound
from connector.web.security import context, flash


def act(request: Request, back: str, work: Callable[[Session], str | None], *, missing_is_404: bool = False
        ) -> RedirectResponse:
    """Run ``work`` in a transaction; its return value is the success message, an InputError the error shown.

    ``missing_is_404``: the form acts on an id from the URL; an unknown (or another company's) id is a 404.
    """
    try:
        with transaction(context(request).engine) as session:
            message = work(session)
    except NotFound as exc:
        if missing_is_404:
            raise HTTPException(404, "There is nothing here.") from exc
        flash(request, _sentence(str(exc)), "error")
    except (InputError, DnsVerificationError) as exc:
        flash(request, _sentence(str(exc)), "error")
    else:
        if message:
            flash(request, message)
    return RedirectResponse(back, 303)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text
