"""``POST /batch/gmail/v1``: Google's multipart/mixed batch protocol.

Each part is ``Content-Type: application/http`` holding one serialized HTTP request; each answer
part carries ``Content-ID: <response-{request part's id}>`` so googleapiclient's
`BatchHttpRequest` can match them. Sub-calls go through `GmailApi.handle` (auth, quota, faults,
logging), each counted on its own. Sub-calls past the 50th may draw 429 "Too many concurrent
requests for user" (a fault knob sets the odds); more than 100 calls refuse the whole batch.
"""

from __future__ import annotations

import secrets
from email import policy
from email.message import Message
from email.parser import BytesParser, HeaderParser
from http import HTTPStatus
from urllib.parse import unquote, urlsplit

from .api import GmailApi
from .quota import LoggedCall
from .wire import ApiError, ApiRequest, ApiResponse

MAX_CALLS = 100


def _sub_request(part: Message, outer_auth: str | None) -> ApiRequest:
    text = part.get_payload(decode=True) or b""
    head, _, rest = text.replace(b"\r\n", b"\n").partition(b"\n")
    method, target, *_ = head.decode().split(" ")
    header_blob, _, body = rest.partition(b"\n\n")
    headers = {k.lower(): v for k, v in HeaderParser().parsestr(header_blob.decode() + "\n\n").items()}
    if outer_auth and "authorization" not in headers:
        headers["authorization"] = outer_auth  # parts without their own credentials use the envelope's
    url = urlsplit(target)
    return ApiRequest.build(method, unquote(url.path), url.query, headers, body)


def _render(content_id: str, response: ApiResponse) -> bytes:
    reason = HTTPStatus(response.status).phrase if response.status in HTTPStatus._value2member_map_ else ""
    lines = [
        "Content-Type: application/http",
        f"Content-ID: <response-{content_id.strip('<>')}>",
        "",
        f"HTTP/1.1 {response.status} {reason}",
    ]
    lines += [f"{k}: {v}" for k, v in response.headers.items()]
    lines += [f"Content-Length: {len(response.body)}", "", ""]
    return "\r\n".join(lines).encode() + response.body


def handle_batch(api: GmailApi, req: ApiRequest) -> ApiResponse:
    ctype = req.headers.get("content-type", "")
    envelope = BytesParser(policy=policy.compat32).parsebytes(f"Content-Type: {ctype}\r\n\r\n".encode() + req.body)
    if not envelope.is_multipart():
        return ApiError(400, "Batch requests must be multipart/mixed.", "badRequest").to_response()
    parts = envelope.get_payload()
    api.log.add(LoggedCall(api.clock.now(), "batch", None, 200, 0, False, req.method, req.path))
    if len(parts) > MAX_CALLS:
        message = f"A batch may hold at most {MAX_CALLS} calls, got {len(parts)}."
        return ApiError(400, message, "badRequest").to_response()
    boundary = "batch_" + secrets.token_hex(12)
    chunks = []
    for index, part in enumerate(parts):
        try:
            sub = _sub_request(part, req.headers.get("authorization"))
            response = api.handle(sub, in_batch=True, batch_index=index)
        except (ValueError, UnicodeDecodeError):
            response = ApiError(400, "Malformed batch part.", "badRequest").to_response()
        chunks.append(f"--{boundary}\r\n".encode() + _render(str(part.get("Content-ID", "")), response) + b"\r\n")
    body = b"".join(chunks) + f"--{boundary}--\r\n".encode()
    return ApiResponse(200, body, {"Content-Type": f"multipart/mixed; boundary={boundary}"})
