"""How the API's paged lists say where the next page is: an RFC 8288 ``Link: <…>; rel="next"`` header with the
same query and the cursor (absent on the last page). The body stays the list it always was."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import HTTPException, Query, Request, Response

from connector.errors import Conflict, InputError, NotFound
from connector.services.paging import MAX_LIMIT, Page

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="rows per page")]
Since = Annotated[datetime | None, Query(description="only what changed at or after this time (ISO 8601)")]
Cursor = Annotated[str | None, Query(description="from the previous page's Link header; omit for the first page")]

NEXT_LINK = {"Link": {"description": 'the next page: `</api/v1/…?cursor=…>; rel="next"`; absent on the last page',
                      "schema": {"type": "string"}}}


def link_next(request: Request, response: Response, page: Page[Any]) -> None:
    if page.next_cursor:
        query = urlencode({**dict(request.query_params), "cursor": page.next_cursor})
        response.headers["Link"] = f'<{request.url.path}?{query}>; rel="next"'


@contextmanager
def answered_as_http() -> Iterator[None]:
    """A service's refusal as the API says it: missing 404, clashing 409, otherwise invalid 422."""
    try:
        yield
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except Conflict as exc:
        raise HTTPException(409, str(exc)) from exc
    except InputError as exc:
        raise HTTPException(422, str(exc)) from exc
