"""A streaming `multipart/form-data` parser: the body is parsed as it comes, never held whole.

Fed chunk by chunk, `MultipartParser` returns events (a part begins, a piece of its data)
and holds back no more than a delimiter's length of data, so a part of any
size passes through in bounded memory; what to do with each piece (count it, hash it,
write it to disk, refuse it) is the caller's. Header blocks and the preamble are bounded
too. Stdlib only: FastAPI's own form parsing needs python-multipart and keeps no limit on
a file part's size.
"""

from __future__ import annotations

import email.message
from dataclasses import dataclass
from email.utils import collapse_rfc2231_value
from enum import Enum, auto

MAX_HEADER_BYTES = 8 * 1024  # one part's header block
MAX_PREAMBLE_BYTES = 8 * 1024  # what a client may send before the first delimiter
MAX_BOUNDARY = 70  # RFC 2046


class MultipartError(ValueError):
    """The body is not well-formed `multipart/form-data`; the message says what is wrong."""


@dataclass(frozen=True)
class PartStart:
    """A part begins: its form field name, and its file name if it is a file (its claimed
    Content-Type is not read: an upload's type is told by its bytes)."""

    name: str
    filename: str | None


@dataclass(frozen=True)
class PartData:
    data: bytes


Event = PartStart | PartData


class _State(Enum):
    PREAMBLE = auto()
    AFTER_DELIMITER = auto()
    HEADERS = auto()
    DATA = auto()
    END = auto()


def _header_message(lines: list[tuple[str, str]]) -> email.message.Message:
    message = email.message.Message()
    for name, value in lines:
        message[name] = value
    return message


def boundary_of(content_type: str) -> bytes:
    """The boundary of a `multipart/form-data` Content-Type; MultipartError for anything else."""
    message = _header_message([("content-type", content_type)])
    if message.get_content_type() != "multipart/form-data":
        raise MultipartError("the body must be multipart/form-data")
    boundary = message.get_param("boundary")
    if not isinstance(boundary, str) or not 1 <= len(boundary) <= MAX_BOUNDARY:
        raise MultipartError("the multipart/form-data Content-Type has no valid boundary")
    try:
        return boundary.encode("ascii")
    except UnicodeEncodeError as exc:
        raise MultipartError("the multipart boundary must be ASCII") from exc


def _part_start(block: bytes) -> PartStart:
    """A part's header block, read for its Content-Disposition."""
    lines: list[tuple[str, str]] = []
    for line in block.decode("utf-8", errors="replace").split("\r\n"):
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise MultipartError("a part has a header line without a name")
        lines.append((name.strip(), value.strip()))
    message = _header_message(lines)
    if message.get_content_disposition() != "form-data":
        raise MultipartError("every part needs Content-Disposition: form-data")
    field = message.get_param("name", header="content-disposition")
    if field is None:
        raise MultipartError("a part's Content-Disposition has no name")
    return PartStart(name=collapse_rfc2231_value(field), filename=message.get_filename())


class MultipartParser:
    """Parses one body; `feed` each chunk as it comes, then `close`."""

    def __init__(self, boundary: bytes) -> None:
        self._delimiter = b"--" + boundary
        # Within a part's data the delimiter is preceded by the line break that ends the data.
        self._data_end = b"\r\n--" + boundary
        self._buffer = bytearray()
        self._state = _State.PREAMBLE
        self._preamble = 0

    def feed(self, chunk: bytes) -> list[Event]:
        """The events the body so far completes; raises MultipartError."""
        self._buffer += chunk
        events: list[Event] = []
        while self._step(events):
            pass
        return events

    def close(self) -> None:
        """The body has ended: raises MultipartError unless it ended with the last delimiter."""
        if self._state is not _State.END:
            raise MultipartError("the multipart body ends before its closing boundary")

    def _step(self, events: list[Event]) -> bool:
        """Take one step on the buffer; False when it needs more bytes."""
        buffer = self._buffer
        if self._state is _State.PREAMBLE:
            found = buffer.find(self._delimiter)
            if found < 0:
                kept = len(self._delimiter) - 1
                self._preamble += max(0, len(buffer) - kept)
                if self._preamble > MAX_PREAMBLE_BYTES:
                    raise MultipartError("no multipart boundary at the start of the body")
                del buffer[: max(0, len(buffer) - kept)]
                return False
            del buffer[: found + len(self._delimiter)]
            self._state = _State.AFTER_DELIMITER
        elif self._state is _State.AFTER_DELIMITER:
            if len(buffer) < 2:
                return False
            after = bytes(buffer[:2])
            del buffer[:2]
            if after == b"--":
                self._state = _State.END
            elif after == b"\r\n":
                self._state = _State.HEADERS
            else:
                raise MultipartError("a multipart boundary is followed by neither CRLF nor --")
        elif self._state is _State.HEADERS:
            end = buffer.find(b"\r\n\r\n")
            if end < 0 or end > MAX_HEADER_BYTES:
                if end > MAX_HEADER_BYTES or len(buffer) > MAX_HEADER_BYTES + 4:
                    raise MultipartError(f"a part's headers exceed {MAX_HEADER_BYTES} bytes")
                return False
            events.append(_part_start(bytes(buffer[:end])))
            del buffer[: end + 4]
            self._state = _State.DATA
        elif self._state is _State.DATA:
            end = buffer.find(self._data_end)
            if end < 0:
                # The tail may be the start of a delimiter: keep it until the next chunk.
                ready = len(buffer) - (len(self._data_end) - 1)
                if ready > 0:
                    events.append(PartData(bytes(buffer[:ready])))
                    del buffer[:ready]
                return False
            if end:
                events.append(PartData(bytes(buffer[:end])))
            del buffer[: end + len(self._data_end)]
            self._state = _State.AFTER_DELIMITER
        else:  # END: the epilogue means nothing
            buffer.clear()
            return False
        return True
