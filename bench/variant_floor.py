"""Figure 8's ceiling: what libvips must spend at the very least, beside Pillow's pipeline.

Every pipeline of the figure must decode each source at full size once (`compressed` is
4096 wide or more: no shrink-on-load reaches it) and encode the three variants with
libwebp, at the same quality and effort as Pillow. `python -m bench.variant_floor --dir D
--effort E` (a fresh subprocess, libvips on one thread, so CPU time is per image) measures
those two costs with each library on the very same pixels (Pillow's, resized as its
pipeline resizes them; the two encoders must write the same bytes, which it checks), and
each library's whole pipeline on each source, the least CPU time of TRIES each, all in one
process within a minute or two, so a busy machine weighs on all alike. Pillow's pipeline
over libvips' floor bounds the speedup any libvips pipeline can reach when the cores are
saturated (2 images at a time on 2 cores): no shared decode, free resize or fewer threads
could beat it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from functools import partial
from io import BytesIO
from pathlib import Path
from typing import Any

TRIES = 2


def _cpu(call: Callable[[], Any]) -> tuple[float, Any]:
    """The least CPU time (all threads of the process) of TRIES calls, and the last result."""
    best, result = float("inf"), None
    for _ in range(TRIES):
        began = time.process_time()
        result = call()
        best = min(best, time.process_time() - began)
    return best, result


def _pillow_decode(path: Path) -> Any:
    from PIL import Image

    return Image.open(path).convert("RGB")


def _vips_decode(path: Path) -> Any:
    import pyvips

    return pyvips.Image.new_from_file(str(path), access="sequential").copy_memory()


def floor(directory: Path, effort: int) -> dict[str, dict[str, float]]:
    """Per source: each library's full decode and its three encodes, in CPU seconds."""
    import pyvips
    from PIL import Image, ImageOps

    from bench.variant_baseline import pillow_variants
    from bench.variants import libvips_variants
    from core.variant_presets import DEFAULT_PRESETS

    pyvips.cache_set_max(0)
    pyvips.concurrency_set(1)
    costs = {}
    for path in sorted(directory.iterdir()):
        with Image.open(path) as opened:
            image = ImageOps.exif_transpose(opened).convert("RGB")
        variants = []
        for preset in DEFAULT_PRESETS:
            if preset.fit == "cover":
                variants.append(ImageOps.fit(image, (preset.width, preset.height)))
                continue
            box = (
                (preset.width, preset.height) if preset.fit == "inside" else (preset.max_side,) * 2
            )
            variant = image.copy()
            variant.thumbnail(box)
            variants.append(variant)
        pillow_decode, _ = _cpu(partial(_pillow_decode, path))
        vips_decode, _ = _cpu(partial(_vips_decode, path))
        pillow_encode = vips_encode = 0.0
        for preset, variant in zip(DEFAULT_PRESETS, variants, strict=True):
            raw = variant.tobytes()
            pixels = pyvips.Image.new_from_memory(raw, variant.width, variant.height, 3, "uchar")
            pixels = pixels.copy(interpretation="srgb").copy_memory()

            def by_pillow(variant: Any = variant, quality: int = preset.quality) -> bytes:
                out = BytesIO()
                variant.save(out, "WEBP", quality=quality, method=effort)
                return out.getvalue()

            def by_vips(pixels: Any = pixels, quality: int = preset.quality) -> bytes:
                return bytes(pixels.webpsave_buffer(Q=quality, effort=effort, keep="none"))

            seconds, made_by_pillow = _cpu(by_pillow)
            pillow_encode += seconds
            seconds, made_by_vips = _cpu(by_vips)
            vips_encode += seconds
            if made_by_pillow != made_by_vips:
                raise AssertionError(f"{path.name} {preset.name}: the encoders differ")
        pillow_pipeline, _ = _cpu(partial(pillow_variants, path, effort))
        vips_pipeline, _ = _cpu(partial(libvips_variants, path, effort))
        costs[path.name] = {
            "pillow_pipeline": pillow_pipeline,
            "vips_pipeline": vips_pipeline,
            "pillow_decode": pillow_decode,
            "pillow_encode": pillow_encode,
            "vips_decode": vips_decode,
            "vips_encode": vips_encode,
        }
    return costs


def measure(directory: Path, effort: int) -> dict[str, dict[str, float]]:
    """`floor` in a fresh subprocess (its libvips settings are its own)."""
    import subprocess

    argv = [sys.executable, "-m", "bench.variant_floor", "--dir", str(directory)]
    done = subprocess.run(
        [*argv, "--effort", str(effort)], capture_output=True, text=True, check=True
    )
    costs: dict[str, dict[str, float]] = json.loads(done.stdout)
    return costs


def lines(costs: dict[str, dict[str, float]]) -> list[str]:
    """The floor per source, and the ceiling it puts on libvips' speedup."""
    out = []
    for name, cost in costs.items():
        out.append(
            f"floor, {name} (CPU s, libvips / Pillow): full decode {cost['vips_decode']:.2f} /"
            f" {cost['pillow_decode']:.2f}; its three encodes (same pixels, same bytes)"
            f" {cost['vips_encode']:.2f} / {cost['pillow_encode']:.2f}; whole pipeline"
            f" {cost['vips_pipeline']:.2f} / {cost['pillow_pipeline']:.2f}"
        )
    least = sum(c["vips_decode"] + c["vips_encode"] for c in costs.values())
    pillow = sum(c["pillow_pipeline"] for c in costs.values())
    product = sum(c["vips_pipeline"] for c in costs.values())
    out.append(
        f"ceiling (one process, one thread, the same minute): Pillow's whole pipeline"
        f" {pillow:.2f} CPU s for the three sources; libvips' {product:.2f} s"
        f" ({pillow / product:.2f}x); libvips' floor {least:.2f} s, so {pillow / least:.2f}x"
        " at most for any libvips pipeline with these encodes"
    )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.variant_floor", description=__doc__)
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--effort", type=int, default=4)
    args = parser.parse_args(argv)
    sys.stdout.write(json.dumps(floor(args.dir, args.effort)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
