"""What an output really is: its type from its first bytes as well as its `Content-Type`.

A provider (and the model a user picks) chooses the header; the bytes cannot lie as easily.
`decide` returns the type an output is stored and served with, or raises `ContentRefused`:

- bytes of a known media format: that type, if allowed (whatever the header said);
- bytes that look like text (HTML, SVG, XML, script, JSON, plain text): refused;
- other binary bytes: the header's type, if allowed (formats this module does not know);
- SVG is never allowed: it is a document that runs scripts, not an image.
"""

from __future__ import annotations

import mimetypes
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

import httpx

from core.storage import CONTENT_TYPES, EXTENSIONS

# How many bytes `decide` wants to see; fewer only when the whole output is shorter.
SNIFF_BYTES = 512
DEFAULT_ALLOWED = ("image/*", "video/*", "audio/*")
NEVER_ALLOWED = frozenset({"image/svg+xml"})

_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"BM", "image/bmp"),
    (0, b"II*\x00", "image/tiff"),
    (0, b"MM\x00*", "image/tiff"),
    (0, b"\x1aE\xdf\xa3", "video/webm"),
    (0, b"OggS", "audio/ogg"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"fLaC", "audio/flac"),
)
_RIFF = {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}
_FTYP = {
    b"avif": "image/avif",
    b"avis": "image/avif",
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"mif1": "image/heif",
    b"msf1": "image/heif",
    b"qt  ": "video/quicktime",
    b"M4A ": "audio/mp4",
    b"M4B ": "audio/mp4",
    b"3gp4": "video/3gpp",
    b"3gp5": "video/3gpp",
}
_MARKUP = (b"<?xml", b"<!doctype", b"<html", b"<svg", b"<script", b"<head", b"<body", b"<!--")
_SCRIPT = (b"function", b"var ", b"let ", b"const ", b"import ", b"(function", b"{", b"[")


class ContentRefused(Exception):
    """An output whose bytes are not an allowed type; the message names the type seen."""

    def __init__(self, detected: str, declared: str, host: str = "") -> None:
        super().__init__(
            f"at {host or 'its host'} refused: content {detected}"
            f" (declared {declared or 'nothing'}) is not an allowed type (OUTPUT_ALLOWED_TYPES)"
        )
        self.detected = detected


def _media(head: bytes) -> str | None:
    for offset, magic, kind in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return kind
    if head[:4] == b"RIFF" and head[8:12] in _RIFF:
        return _RIFF[head[8:12]]
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _FTYP:
            return _FTYP[brand]
        return "video/mp4"  # isom, mp41, mp42, avc1, dash, M4V…: the ISO base media family
    if head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2", b"\xff\xfa"):
        return "audio/mpeg"  # an MPEG audio frame sync without an ID3 tag
    if head[:2] in (b"\xff\xf1", b"\xff\xf9"):
        return "audio/aac"
    return None


def _text(head: bytes) -> str | None:
    """The kind of text `head` starts, if it is text at all."""
    body = head.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n\x0c").lower()
    if body.startswith(_MARKUP) or b"<svg" in head.lower() or b"<html" in head.lower():
        if b"<svg" in head.lower():
            return "image/svg+xml"
        return "text/html" if b"<html" in head.lower() or b"doctype html" in body else "text/xml"
    if not body:
        return "text/plain" if head else "application/x-empty"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not only a character cut at the sniffed window's end
            return None
        text = head[: exc.start].decode("utf-8")
    if any(ord(c) < 32 and c not in "\t\r\n\x0c" for c in text):
        return None
    if body.startswith(_SCRIPT):
        return "text/javascript" if not body.startswith((b"{", b"[")) else "application/json"
    return "text/plain"


def sniff(head: bytes) -> str | None:
    """The type `head` (an output's first bytes) shows, or None for unknown binary bytes."""
    return _media(head) or _text(head)


def allowed(content_type: str, patterns: Iterable[str] = DEFAULT_ALLOWED) -> bool:
    """Whether `content_type` matches one of `patterns` (`type/*` or exact); never SVG."""
    kind = content_type.lower()
    if kind in NEVER_ALLOWED or not kind:
        return False
    for pattern in patterns:
        pattern = pattern.strip().lower()
        if pattern == kind or (pattern.endswith("/*") and kind.startswith(pattern[:-1])):
            return True
    return False


def decide(
    declared: str, head: bytes, patterns: Iterable[str] = DEFAULT_ALLOWED, host: str = ""
) -> str:
    """The type an output is stored as; `ContentRefused` when it may not be stored at all."""
    declared = declared.split(";")[0].strip().lower()
    patterns = tuple(patterns)
    detected = sniff(head)
    if detected is None:  # binary, but no format known here: the header may name it
        if allowed(declared, patterns):
            return declared
        raise ContentRefused("unrecognised binary", declared, host)
    if not allowed(detected, patterns):
        raise ContentRefused(detected, declared, host)
    return detected


def stored_type(
    declared: str, url: httpx.URL, head: bytes, patterns: Iterable[str] = DEFAULT_ALLOWED
) -> tuple[str, str]:
    """The type an output at `url` is stored as (see `decide`) and its key's extension.

    Without a header, the URL's extension stands for the declared type.
    """
    suffix = url.path.rsplit(".", 1)[-1].lower()
    declared = declared.split(";")[0].strip().lower() or CONTENT_TYPES.get(suffix, "")
    content_type = decide(declared, head, patterns, url.host)
    if CONTENT_TYPES.get(suffix) == content_type:
        return content_type, suffix
    guessed = mimetypes.guess_extension(content_type) or ".bin"
    return content_type, EXTENSIONS.get(content_type) or guessed[1:]


@dataclass
class Peeked:
    """A byte stream whose first bytes were read ahead: `head`, then the rest, unchanged."""

    head: bytes
    rest: AsyncIterator[bytes]

    async def aiter_bytes(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        if self.head:
            yield self.head
        async for chunk in self.rest:
            yield chunk


async def peek(chunks: AsyncIterator[bytes], size: int = SNIFF_BYTES) -> Peeked:
    """Read chunks until at least `size` bytes (or the end) are held, without losing any."""
    held: list[bytes] = []
    total = 0
    while total < size:
        chunk = await anext(chunks, b"")
        if not chunk:
            break
        held.append(chunk)
        total += len(chunk)
    return Peeked(b"".join(held), chunks)
