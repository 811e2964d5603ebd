"""activities/imaging.py: each fit's size, `original` no bigger than its source, ImageWorkers."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
import pyvips
from PIL import Image

import activities.imaging
from activities.imaging import QUALITY_FLOOR, ImageWorkers, Rendered, render_variant
from core.variant_presets import DEFAULT_PRESETS, VariantPreset, preset_named

PRESETS = list(DEFAULT_PRESETS)
THUMBNAIL = preset_named(PRESETS, "thumbnail")
PREVIEW = preset_named(PRESETS, "preview")
COMPRESSED = preset_named(PRESETS, "compressed")


def render(path: Path, preset: VariantPreset) -> Rendered:
    return render_variant(str(path), preset, source_size=path.stat().st_size)


def size_of(rendered: Rendered) -> tuple[int, int]:
    """The decoded size, checked against the one `Rendered` states."""
    image = pyvips.Image.new_from_buffer(rendered.data, "")
    assert (image.width, image.height) == (rendered.width, rendered.height)
    return image.width, image.height


def flat(tmp_path: Path, width: int, height: int, name: str = "flat.png") -> Path:
    path = tmp_path / name
    Image.new("RGB", (width, height), (90, 140, 200)).save(path)
    return path


def photo(width: int, height: int) -> pyvips.Image:
    """Photo-like pixels: smooth blobs, gradients and a little grain (not flat, not noise)."""
    blobs = pyvips.Image.gaussnoise(width // 16, height // 16, sigma=60, mean=128, seed=1)
    blobs = blobs.gaussblur(2).resize(16, kernel="cubic").embed(0, 0, width, height, extend="copy")
    x, y = pyvips.Image.xyz(width, height).bandsplit()
    x, y = x * (255 / width), y * (255 / height)
    grain = pyvips.Image.gaussnoise(width, height, sigma=6, mean=0, seed=2)
    red = blobs * 0.6 + x * 0.4 + grain
    green = blobs * 0.5 + y * 0.5 + grain
    blue = (255 - blobs) * 0.5 + x * 0.2 + y * 0.3 + grain
    return red.bandjoin([green, blue]).cast("uchar").copy(interpretation="srgb")


@pytest.mark.parametrize("size", [(800, 400), (300, 900), (100, 60), (256, 256)])
def test_thumbnail_is_exactly_256_square(tmp_path: Path, size: tuple[int, int]) -> None:
    assert size_of(render(flat(tmp_path, *size), THUMBNAIL)) == (256, 256)


def test_thumbnail_crops_the_centre(tmp_path: Path) -> None:
    """900 x 300 in thirds red, green, blue: the centre square is the green third."""
    picture = Image.new("RGB", (900, 300), (255, 0, 0))
    picture.paste((0, 255, 0), (300, 0, 600, 300))
    picture.paste((0, 0, 255), (600, 0, 900, 300))
    path = tmp_path / "thirds.png"
    picture.save(path)

    image = pyvips.Image.new_from_buffer(render(path, THUMBNAIL).data, "")

    for x, y in ((3, 3), (252, 3), (128, 128), (3, 252), (252, 252)):
        assert image.getpoint(x, y) == pytest.approx([0, 255, 0], abs=40), (x, y)


@pytest.mark.parametrize(
    ("size", "expected"),
    [((300, 200), (300, 200)), ((3000, 1500), (1024, 512)), ((1500, 3000), (512, 1024))],
)
def test_preview_fits_1024_and_never_enlarges(
    tmp_path: Path, size: tuple[int, int], expected: tuple[int, int]
) -> None:
    assert size_of(render(flat(tmp_path, *size), PREVIEW)) == expected


def test_compressed_caps_the_long_side(tmp_path: Path) -> None:
    assert size_of(render(flat(tmp_path, 5000, 1000), COMPRESSED)) == (4096, 819)


def test_compressed_keeps_the_upright_size(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 200 x 100, shown turned a quarter: 100 x 200
    path = tmp_path / "turned.jpg"
    Image.new("RGB", (200, 100), (10, 120, 30)).save(path, "JPEG", exif=exif)

    assert size_of(render(path, COMPRESSED)) == (100, 200)


@pytest.mark.parametrize("jpeg_quality", [95, 70, 40, 30])
def test_compressed_is_no_bigger_than_the_original_jpeg(tmp_path: Path, jpeg_quality: int) -> None:
    path = tmp_path / f"photo{jpeg_quality}.jpg"
    photo(1600, 1200).jpegsave(str(path), Q=jpeg_quality)
    source = path.stat().st_size

    rendered = render(path, COMPRESSED)

    assert len(rendered.data) <= source
    assert size_of(rendered) == (1600, 1200)


def test_compressed_lowers_quality_only_as_far_as_it_must(tmp_path: Path) -> None:
    """At the preset's quality the WebP is bigger than this JPEG; at the floor it is smaller."""
    path = tmp_path / "photo.jpg"
    photo(1600, 1200).jpegsave(str(path), Q=40)
    source, decoded = path.stat().st_size, pyvips.Image.new_from_file(str(path))
    at_preset = len(decoded.webpsave_buffer(Q=COMPRESSED.quality, keep="none"))
    at_floor = len(decoded.webpsave_buffer(Q=QUALITY_FLOOR, keep="none"))
    assert at_floor < source < at_preset  # the fixture needs the search

    size = len(render(path, COMPRESSED).data)

    assert at_floor < size <= source


def test_compressed_gives_the_smallest_encoding_when_nothing_fits(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    photo(400, 300).jpegsave(str(path), Q=90)
    decoded = pyvips.Image.new_from_file(str(path))
    at_floor = len(decoded.webpsave_buffer(Q=QUALITY_FLOOR, keep="none"))

    rendered = render_variant(str(path), COMPRESSED, source_size=100)

    assert len(rendered.data) == at_floor
    assert size_of(rendered) == (400, 300)


async def test_workers_render_every_preset(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    photo(2000, 1000).jpegsave(str(path), Q=85)
    workers = ImageWorkers(max_concurrency=2)

    results = await asyncio.gather(
        *(workers.render(str(path), p, source_size=path.stat().st_size) for p in PRESETS)
    )

    assert [size_of(r) for r in results] == [(256, 256), (1024, 512), (2000, 1000)]


async def test_workers_decode_at_most_max_concurrency_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Eight renders through two slots: the two in a slot meet (a barrier of two parties,
    which breaks if they ran one at a time), and no third is ever inside."""
    lock, meeting = threading.Lock(), threading.Barrier(2, timeout=30)
    inside, most, calls = 0, 0, []

    def fake_render(source_path: str, preset: VariantPreset, *, source_size: int) -> Rendered:
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
            calls.append(source_path)
        meeting.wait()
        with lock:
            inside -= 1
        return Rendered(b"", "image/webp", source_size, source_size)

    monkeypatch.setattr(activities.imaging, "render_variant", fake_render)
    workers = ImageWorkers(max_concurrency=2)

    results = await asyncio.gather(
        *(workers.render(f"image-{i}", PREVIEW, source_size=i) for i in range(8))
    )

    assert most == 2
    assert sorted(calls) == [f"image-{i}" for i in range(8)]
    assert [r.width for r in results] == list(range(8))


def test_workers_need_a_slot() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ImageWorkers(max_concurrency=0)


async def test_a_cancelled_render_keeps_its_thread_until_it_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One slot: the first render is cancelled while its thread still decodes; the second
    starts only once that thread is done (never two decodes at once)."""
    entered, release, second_started = threading.Event(), threading.Event(), threading.Event()
    first_done_before_second: list[bool] = []

    def fake_render(source_path: str, preset: VariantPreset, *, source_size: int) -> Rendered:
        if source_path == "first":
            entered.set()
            release.wait(timeout=30)
        else:
            first_done_before_second.append(release.is_set())
            second_started.set()
        return Rendered(b"", "image/webp", 1, 1)

    monkeypatch.setattr(activities.imaging, "render_variant", fake_render)
    workers = ImageWorkers(max_concurrency=1)
    first = asyncio.create_task(workers.render("first", PREVIEW, source_size=1))
    await asyncio.to_thread(entered.wait, 30)
    first.cancel()
    second = asyncio.create_task(workers.render("second", PREVIEW, source_size=1))
    # The second must not start while the first's thread is held (a bounded wait that a
    # correct pool always sits out; it is not a timing assertion).
    assert not await asyncio.to_thread(second_started.wait, 0.5)
    release.set()

    await second
    assert first.cancelled()
    assert first_done_before_second == [True]
