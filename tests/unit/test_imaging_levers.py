"""activities/imaging.py: what keeps a variant cheap (figure 8, docs/BENCHMARKS.md).

`compressed` decodes its source once when the first encoding fits, once more (into memory,
for the search) when it does not; libvips' threads per image follow the pool's size.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import pyvips

import activities.imaging
from activities.imaging import ImageWorkers, render_variant, threads_per_image
from core.variant_presets import DEFAULT_PRESETS, VariantPreset, preset_named

COMPRESSED = preset_named(list(DEFAULT_PRESETS), "compressed")


def photo(path: Path, quality: int) -> Path:
    """A 1200 x 900 photo-like JPEG (blobs and grain) at `quality`."""
    blobs = pyvips.Image.gaussnoise(75, 57, sigma=60, mean=128, seed=1).gaussblur(2)
    blobs = blobs.resize(16, kernel="cubic").embed(0, 0, 1200, 900, extend="copy")
    grain = pyvips.Image.gaussnoise(1200, 900, sigma=6, mean=0, seed=2)
    red = blobs + grain
    image = red.bandjoin([blobs * 0.5 + 60 + grain, 255 - blobs + grain]).cast("uchar")
    image.copy(interpretation="srgb").jpegsave(str(path), Q=quality)
    return path


def counting_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every `_load` call from now on, by the preset's name."""
    calls: list[str] = []
    load = activities.imaging._load

    def counted(source_path: str, preset: VariantPreset) -> pyvips.Image:
        calls.append(preset.name)
        return load(source_path, preset)

    monkeypatch.setattr(activities.imaging, "_load", counted)
    return calls


def test_a_first_encoding_that_fits_decodes_the_source_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = photo(tmp_path / "photo.jpg", 95)
    calls = counting_loads(monkeypatch)

    rendered = render_variant(str(path), COMPRESSED, source_size=path.stat().st_size)

    assert calls == ["compressed"]
    at_preset = pyvips.Image.new_from_file(str(path)).webpsave_buffer(
        Q=COMPRESSED.quality, keep="none"
    )
    assert rendered.data == at_preset  # the preset's quality, first try


def test_a_search_loads_the_sequential_source_again_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """libvips reads a sequential source once: the search needs, and makes, one more load."""
    path = photo(tmp_path / "photo.jpg", 40)
    source = path.stat().st_size
    at_preset = pyvips.Image.new_from_file(str(path)).webpsave_buffer(
        Q=COMPRESSED.quality, keep="none"
    )
    assert len(at_preset) > source  # the fixture needs the search
    calls = counting_loads(monkeypatch)

    rendered = render_variant(str(path), COMPRESSED, source_size=source)

    assert calls == ["compressed", "compressed"]
    assert len(rendered.data) <= source
    assert (rendered.width, rendered.height) == (1200, 900)


@pytest.mark.parametrize(
    ("cores", "images", "threads"), [(2, 1, 2), (2, 2, 1), (2, 4, 1), (8, 2, 4)]
)
def test_threads_per_image_share_the_cores(
    monkeypatch: pytest.MonkeyPatch, cores: int, images: int, threads: int
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: set(range(cores)))

    assert threads_per_image(images) == threads


def test_image_workers_set_libvips_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    before = pyvips.concurrency_get()
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 1, 2, 3})
    try:
        ImageWorkers(max_concurrency=2)
        assert pyvips.concurrency_get() == 2
    finally:
        pyvips.concurrency_set(before)
