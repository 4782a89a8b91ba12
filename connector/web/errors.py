"""What goes wrong, as each audience sees it: machines get FastAPI's JSON errors, people get a page (and a
sign-in redirect when signed out); a service's NotFound is a 404 for both."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from connector.errors import NotFound
from connector.web.middleware import is_machine_path
from connector.web.security import SignInRequired
from connector.web.templating import render_page

ERROR_TITLES = {403: "Not allowed", 404: "Not found", 405: "Not allowed"}


@contextmanager
def missing_as_404(detail: str | None = None) -> Iterator[None]:
    """Another company's id reads exactly like one that does not exist: both are a 404.

    The API says ``detail``, or else the service's message ("no record 7"); the console's 404 page always
    says there is nothing here.
    """
    try:
        yield
    except NotFound as exc:
        raise HTTPException(404, str(exc) if detail is None else detail) from exc


def install_error_pages(app: FastAPI) -> None:
    app.add_exception_handler(SignInRequired, sign_in_first)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, bad_request)  # type: ignore[arg-type]


async def sign_in_first(request: Request, exc: SignInRequired) -> Response:
    target = "/signin" if exc.next_path == "/" else f"/signin?next={quote(exc.next_path, safe='/')}"
    return RedirectResponse(target, 303)


async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    if is_machine_path(request.url.path):
        return await http_exception_handler(request, exc)
    message = exc.detail if exc.status_code != 404 else "There is nothing here."
    return render_page(request, "error.html", None, exc.status_code, title=ERROR_TITLES.get(exc.status_code, "Error"),
                       message=message, signed_in=isinstance(request.session.get("uid"), int))


async def bad_request(request: Request, exc: RequestValidationError) -> Response:
    if is_machine_path(request.url.path):
        return await request_validation_exception_handler(request, exc)
    # A malformed id in a console URL is, for a person, just a page that does not exist.
    return render_page(request, "error.html", None, 404, title="Not found", message="There is nothing here.",
                       signed_in=isinstance(request.session.get("uid"), int))
