"""Receiving an upload: its multipart body streamed to a file on disk, counted as it comes.

The global body cap (`MAX_BODY_BYTES`, api/middleware.py) does not apply to the uploads
route; this is its limit instead: a Content-Length over it is refused before a byte is
read, and a body that turns out longer (chunked, or lying) is cut off as it crosses it.
Memory stays bounded whatever the size: the file part goes to disk in batches of
`WRITE_BYTES`, and only its first bytes (to sniff its type) and the small text fields
(`variants`, `webhook_url`) are kept.
"""

from __future__ import annotations

import asyncio
import hashlib
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from fastapi import HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from starlette.requests import ClientDisconnect

from api.multipart import MultipartError, MultipartParser, PartData, PartStart, boundary_of
from api.schemas import WEBHOOK_URL_MAX
from core.sniff import SNIFF_BYTES

FILE_FIELD = "file"
VARIANTS_FIELD = "variants"
WEBHOOK_FIELD = "webhook_url"
# The form's text fields, each sent at most once, and how long each may be.
TEXT_FIELDS = {VARIANTS_FIELD: 1024, WEBHOOK_FIELD: WEBHOOK_URL_MAX}
# Boundaries, part headers and the text fields, on top of the file's own bytes.
MULTIPART_OVERHEAD = 64 * 1024
WRITE_BYTES = 64 * 1024  # held per upload until written: a burst of uploads adds up
FILENAME_MAX = 200
DEFAULT_FILENAME = "upload"


def invalid(field: str, message: str, kind: str = "value_error") -> RequestValidationError:
    """A 422 naming `field` of the body, shaped like FastAPI's own."""
    return RequestValidationError([{"loc": ("body", field), "msg": message, "type": kind}])


def too_large(max_bytes: int) -> HTTPException:
    return HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE,
        f"{FILE_FIELD} is over the upload limit of {max_bytes} bytes",
    )


def safe_filename(name: str | None) -> str:
    """The client's file name as it may be stored and shown: its last path segment, no
    control characters, at most FILENAME_MAX characters."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    kept = "".join(c for c in base if unicodedata.category(c)[0] != "C").strip()
    return kept[:FILENAME_MAX] or DEFAULT_FILENAME


@dataclass(frozen=True)
class ReceivedUpload:
    """The file part, on disk at `path`, and the raw text fields that were sent."""

    path: Path
    filename: str
    size: int
    sha256: str
    head: bytes
    variants: str | None
    webhook_url: str | None


class _FilePart:
    """The file part's bytes: counted, hashed, their head kept, written to disk in batches."""

    def __init__(self, path: Path, filename: str | None, max_bytes: int) -> None:
        self.path = path
        self.filename = safe_filename(filename)
        self.max_bytes = max_bytes
        self.size = 0
        self.sha256 = hashlib.sha256()
        self.head = b""
        self._pending = bytearray()
        self._file: BinaryIO | None = None

    async def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.max_bytes:
            raise too_large(self.max_bytes)
        self.sha256.update(data)
        if len(self.head) < SNIFF_BYTES:
            self.head += data[: SNIFF_BYTES - len(self.head)]
        self._pending += data
        if len(self._pending) >= WRITE_BYTES:
            await self.flush()

    async def flush(self) -> None:
        if self._file is None:
            self._file = await asyncio.to_thread(self.path.open, "wb")
        if self._pending:  # handed over, not copied: a burst holds one batch per upload
            data, self._pending = self._pending, bytearray()
            await asyncio.to_thread(self._file.write, data)

    async def close(self) -> None:
        if self._file is not None:
            await asyncio.to_thread(self._file.close)


class _Form:
    """What the parser's events make of the form: the file part and the text fields."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self._directory = directory
        self._max_bytes = max_bytes
        self.file: _FilePart | None = None
        self.texts: dict[str, bytearray] = {}
        self._current: _FilePart | bytearray | None = None
        self._field = ""  # the text field being read

    def text(self, name: str) -> str | None:
        raw = self.texts.get(name)
        try:
            return None if raw is None else raw.decode("utf-8")
        except UnicodeDecodeError:
            raise invalid(name, f"{name} is not UTF-8 text") from None

    async def on_start(self, part: PartStart) -> None:
        if part.name == FILE_FIELD:
            if self.file is not None:
                raise invalid(FILE_FIELD, "send one file per upload")
            self.file = _FilePart(self._directory / "original", part.filename, self._max_bytes)
            self._current = self.file
        elif part.name in TEXT_FIELDS and part.name not in self.texts:
            self._current = self.texts[part.name] = bytearray()
            self._field = part.name
        else:
            shown = part.name[:40].encode("ascii", "backslashreplace").decode()
            texts = ", ".join(f"`{name}`" for name in TEXT_FIELDS)
            raise invalid(
                shown,
                f"unexpected form field {shown!r}: an upload takes `{FILE_FIELD}` and,"
                f" once each, {texts}",
            )

    async def on_data(self, data: bytes) -> None:
        if isinstance(self._current, _FilePart):
            await self._current.write(data)
        elif self._current is not None:
            self._current += data
            if len(self._current) > TEXT_FIELDS[self._field]:
                raise invalid(self._field, f"longer than {TEXT_FIELDS[self._field]} bytes")

    async def close(self) -> None:
        if self.file is not None:
            await self.file.close()


async def receive_upload(request: Request, directory: Path, *, max_bytes: int) -> ReceivedUpload:
    """Stream the request's form into `directory`; raises the 4xx that a bad body deserves."""
    try:
        parser = MultipartParser(boundary_of(request.headers.get("content-type", "")))
    except MultipartError as exc:
        raise invalid(FILE_FIELD, f"{exc}, with the image as its `{FILE_FIELD}` part") from exc
    limit = max_bytes + MULTIPART_OVERHEAD
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(max_bytes)
    form = _Form(directory, max_bytes)
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise too_large(max_bytes)
            for event in parser.feed(chunk):
                if isinstance(event, PartStart):
                    await form.on_start(event)
                elif isinstance(event, PartData):
                    await form.on_data(event.data)
        parser.close()
        if form.file is not None:
            await form.file.flush()  # an empty file is still a file, to be refused by type
    except MultipartError as exc:
        raise invalid(FILE_FIELD, f"the body is not valid multipart/form-data: {exc}") from exc
    except ClientDisconnect as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the upload ended early") from exc
    finally:
        await form.close()
    if form.file is None:
        raise invalid(FILE_FIELD, "Field required", "missing")
    return ReceivedUpload(
        path=form.file.path,
        filename=form.file.filename,
        size=form.file.size,
        sha256=form.file.sha256.hexdigest(),
        head=form.file.head,
        variants=form.text(VARIANTS_FIELD),
        webhook_url=form.text(WEBHOOK_FIELD),
    )
