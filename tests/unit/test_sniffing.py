"""Output types from their first bytes (issue #16): bytes → type, and type rules both ways."""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image

from core.sniff import ContentRefused, allowed, decide, peek, sniff, stored_type


def pil(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, fmt)
    return buffer.getvalue()


def ftyp(brand: bytes) -> bytes:
    return b"\x00\x00\x00\x18ftyp" + brand + b"\x00\x00\x00\x00" + brand + b"mp41" + b"\x00" * 64


MEDIA = [
    (pil("PNG"), "image/png"),
    (pil("JPEG"), "image/jpeg"),
    (pil("GIF"), "image/gif"),
    (pil("WEBP"), "image/webp"),
    (pil("BMP"), "image/bmp"),
    (pil("TIFF"), "image/tiff"),
    (ftyp(b"avif"), "image/avif"),
    (ftyp(b"heic"), "image/heic"),
    (ftyp(b"mif1"), "image/heif"),
    (ftyp(b"isom"), "video/mp4"),
    (ftyp(b"mp42"), "video/mp4"),
    (ftyp(b"qt  "), "video/quicktime"),
    (b"\x1aE\xdf\xa3\x9fB\x86\x81\x01" + b"\x00" * 32, "video/webm"),
    (b"OggS\x00\x02" + b"\x00" * 40, "audio/ogg"),
    (b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\x00" * 40, "audio/mpeg"),
    (b"\xff\xfb\x90\x64" + b"\x00" * 40, "audio/mpeg"),
    (b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 40, "audio/wav"),
    (b"fLaC\x00\x00\x00\x22" + b"\x00" * 40, "audio/flac"),
]

TEXT = [
    (b"<!doctype html><html><script>alert(1)</script>", "text/html"),
    (b"\xef\xbb\xbf  \n<html><body>hi</body></html>", "text/html"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"><script/></svg>', "image/svg+xml"),
    (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg+xml"),
    (b'<?xml version="1.0"?><feed/>', "text/xml"),
    (b"function f() { fetch('/v1/account') }", "text/javascript"),
    (b'{"key": "whsec_secret"}', "application/json"),
    (b"just some words", "text/plain"),
]


@pytest.mark.parametrize(("head", "kind"), MEDIA + TEXT)
def test_bytes_show_their_type(head: bytes, kind: str) -> None:
    assert sniff(head) == kind


def test_unknown_binary_is_unknown() -> None:
    assert sniff(bytes((i * 7 + 3) % 256 for i in range(512))) is None


@pytest.mark.parametrize(("head", "kind"), MEDIA)
def test_media_bytes_win_over_any_header(head: bytes, kind: str) -> None:
    for declared in ("", "text/html", "image/svg+xml", "application/octet-stream", kind):
        assert decide(declared, head) == kind


@pytest.mark.parametrize(("head", "kind"), TEXT)
def test_text_is_refused_whatever_the_header_says(head: bytes, kind: str) -> None:
    for declared in ("image/png", "video/mp4", kind, ""):
        with pytest.raises(ContentRefused) as caught:
            decide(declared, head, host="cdn.example")
        assert caught.value.detected == kind
        assert kind in str(caught.value)
        assert "cdn.example" in str(caught.value)


def test_unknown_binary_takes_an_allowed_header_only() -> None:
    head = bytes((i * 7 + 3) % 256 for i in range(512))
    assert decide("video/x-matroska", head) == "video/x-matroska"
    assert decide("audio/aiff; charset=x", head) == "audio/aiff"
    for declared in ("application/octet-stream", "", "image/svg+xml", "text/html"):
        with pytest.raises(ContentRefused, match="unrecognised binary"):
            decide(declared, head)


def test_allowed_types_are_a_setting_and_svg_is_never_allowed() -> None:
    assert allowed("image/png")
    assert allowed("video/mp4")
    assert allowed("audio/wav")
    assert not allowed("image/svg+xml")
    assert not allowed("image/svg+xml", ["image/svg+xml"])
    assert not allowed("text/html")
    assert not allowed("application/pdf")
    assert allowed("image/png", ["image/png"])
    assert not allowed("image/gif", ["image/png"])
    with pytest.raises(ContentRefused):
        decide("image/gif", pil("GIF"), ["image/png"])


def test_stored_type_names_the_extension() -> None:
    url = httpx.URL("https://replicate.delivery/x/out-0.png")
    assert stored_type("image/png", url, pil("PNG")) == ("image/png", "png")
    assert stored_type("", url, pil("PNG")) == ("image/png", "png")
    assert stored_type("image/png", url, pil("JPEG")) == ("image/jpeg", "jpg")
    assert stored_type("", httpx.URL("https://a.example/o"), pil("WEBP")) == ("image/webp", "webp")


async def test_peek_holds_the_first_bytes_and_loses_none() -> None:
    chunks = [b"\x89PN", b"G\r\n", b"\x1a\n" + b"a" * 600, b"b" * 1000, b"c"]

    async def source():
        for chunk in chunks:
            yield chunk

    peeked = await peek(source(), 512)
    assert peeked.head == b"".join(chunks[:3])  # stopped once 512 bytes were held
    assert sniff(peeked.head) == "image/png"
    assert b"".join([c async for c in peeked.aiter_bytes()]) == b"".join(chunks)


async def test_peek_of_a_short_stream() -> None:
    async def source():
        yield b"ab"

    peeked = await peek(source())
    assert peeked.head == b"ab"
    assert [c async for c in peeked.aiter_bytes()] == [b"ab"]
