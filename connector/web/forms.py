"""The pattern every console form follows: its work and one commit, a flash message, a redirect (POST → 303 → GET)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import HTTPException, Request
from fastapi.responses import RedirectResponse
from sqlmodel import Session

from connector.errors import DnsVerificationError, InputError, NotFound
from connector.web.security import flash


def submit_form(request: Request, session: Session, back: str, work: Callable[[], str | None], *,
                missing_is_404: bool = False) -> RedirectResponse:
    """Run ``work`` and commit; its return value is the success message, an InputError (rolled back) the error shown.

    ``missing_is_404``: the form acts on an id from the URL; an unknown (or another company's) id is a 404.
    Any other exception propagates, and the request's session rolls the work back as it closes.
    """
    try:
        message = work()
        session.commit()
    except NotFound as exc:
        session.rollback()
        if missing_is_404:
            raise HTTPException(404, "There is nothing here.") from exc
        flash(request, _sentence(str(exc)), "error")
    except (InputError, DnsVerificationError) as exc:
        session.rollback()
        flash(request, _sentence(str(exc)), "error")
    else:
        if message:
            flash(request, message)
    return RedirectResponse(back, 303)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text
