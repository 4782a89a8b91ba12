"""An uploaded archive streamed from the request straight into the import spool (`services.import_spool`):
never held in memory, cut off with 413 as soon as it is over `imports.max_upload_bytes`.

Two shapes: multipart/form-data (the console's form, `curl -F file=@archive.mbox`), each file part one file,
the small fields returned; or a raw body whose Content-Type names its format (`application/mbox`,
`message/rfc822`, `application/vnd.ms-outlook`, `application/zip`). The paths are left out of `InputGuard`,
which would otherwise read the whole body into memory to look at it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import HTTPException, Request
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from connector.config import ImportSettings
from connector.errors import InputError
from connector.services.import_spool import CONTENT_TYPES, Upload, UploadTooLarge, new_upload

MAX_FIELD_BYTES = 4096  # the small form fields (csrf, mailbox)
FieldCheck = Callable[[dict[str, str]], None]


async def receive_upload(request: Request, settings: ImportSettings,
                         before_file: FieldCheck = lambda fields: None) -> tuple[Upload, dict[str, str]]:
    """The request's archive in a new spool folder, and its form fields. ``before_file`` sees the fields sent
    before the first file part (the console's CSRF token) and may refuse the upload before a byte is stored."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > settings.max_upload_bytes:
        raise HTTPException(413, str(UploadTooLarge(settings.max_upload_bytes)))
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    upload = await run_in_threadpool(new_upload, settings)
    try:
        if kind == b"multipart/form-data" and options.get(b"boundary"):
            parts = _Parts(upload, before_file)
            parser = MultipartParser(options[b"boundary"], parts.callbacks())
            await _pump(request, parser.write)
            parser.finalize()
            upload.end()
            return upload, parts.fields
        extension = CONTENT_TYPES.get(kind.decode("latin-1").lower())
        if extension is None:
            raise HTTPException(415, "send multipart/form-data, or a body of type " + ", ".join(CONTENT_TYPES))
        upload.begin(request.query_params.get("filename") or f"upload{extension}")
        await _pump(request, upload.write)
        upload.end()
        return upload, dict(request.query_params)
    except UploadTooLarge as exc:
        upload.discard()
        raise HTTPException(413, str(exc)) from exc
    except InputError as exc:
        upload.discard()
        raise HTTPException(422, str(exc)) from exc
    except BaseException:
        upload.discard()
        raise


async def _pump(request: Request, sink: Callable[[bytes], object]) -> None:
    """Each chunk of the body to ``sink`` in a worker thread (disk writes never stall the event loop)."""
    async for chunk in request.stream():
        if chunk:
            await run_in_threadpool(sink, chunk)


@dataclass
class _Parts:
    """python-multipart's callbacks: file parts to the upload, other parts collected as small fields."""

    upload: Upload
    before_file: FieldCheck
    fields: dict[str, str] = field(default_factory=dict)
    _header: bytes = b""
    _headers: dict[bytes, bytes] = field(default_factory=dict)
    _name: str = ""
    _value: bytearray | None = None
    _checked: bool = False

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {"on_part_begin": self._begin, "on_header_field": self._header_field,
                "on_header_value": self._header_value, "on_header_end": lambda: None,
                "on_headers_finished": self._headers_done, "on_part_data": self._data, "on_part_end": self._end}

    def _begin(self) -> None:
        self._headers, self._header, self._value = {}, b"", None

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header = data[start:end].lower()

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._headers[self._header] = self._headers.get(self._header, b"") + data[start:end]

    def _headers_done(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        if options.get(b"filename"):
            if not self._checked:
                self.before_file(self.fields)
                self._checked = True
            self.upload.begin(options[b"filename"].decode("utf-8", "replace"))
        else:  # a field, or a file input left empty (filename=""): kept only under a field's name
            self._name = "" if b"filename" in options else self._name
            self._value = bytearray()

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._value is None:
            self.upload.write(data[start:end])
            return
        self._value += data[start:end]
        if len(self._value) > MAX_FIELD_BYTES:
            raise InputError(f"form field {self._name!r} is too long")

    def _end(self) -> None:
        if self._value is None:
            self.upload.end()
        elif self._name:
            if b"\x00" in self._value:  # InputGuard leaves these bodies alone: no field may carry a NUL here either
                raise HTTPException(400, "This request contains a NUL character, which nothing here accepts.")
            self.fields[self._name] = self._value.decode("utf-8", "replace")
