"""Figure 8 (issue 17): the variant pipeline, libvips (the product) against Pillow.

`python -m bench.variants [--rounds N] [--effort E] [--write]`, or `python -m bench variants`;
no stack. Three sources made in a scratch directory (24-megapixel photo-like JPEG and PNG,
a 12-megapixel WebP) go through every preset of `DEFAULT_PRESETS`, `rounds` times, 1 and 2
images at a time, each run a fresh subprocess (3 runs each, alternating; the fastest counts):
wall time gives images per second (an image: its three variants), `ru_maxrss` peak RSS,
`ru_utime + ru_stime` the CPU it spent. libvips runs `threads_per_image(concurrency)` threads
per image, as the worker does (`--vips-threads N` sets them; 0: libvips' default, a thread
per core). `bench.variant_floor` measures what libvips must spend at the very least.

libvips is `activities.imaging.render_variant`. Pillow (`bench.variant_baseline`) is the
baseline the issue names, as the service's first version would have written it
(`exif_transpose`, `convert("RGB")`, `ImageOps.fit` / `thumbnail`, WebP, the same quality
search for `compressed`): it decodes a source once for its three variants, and neither
applies colour profiles nor keeps alpha.
A child imports only the library it measures (imports sit in the functions that need them),
so the two peak RSS figures compare pipelines, not the bench's modules.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.figures import Result

LIBRARIES = ("pillow", "libvips")
CONCURRENCIES = (1, 2)  # the worker's default IMAGE_MAX_CONCURRENCY is 2
TARGET_SPEEDUP = 1.3


@dataclass(frozen=True)
class Run:
    """One child process: `images` sources (each made into every preset) in `seconds`."""

    library: str
    concurrency: int
    images: int
    seconds: float
    start_rss_kb: int
    peak_rss_kb: int
    cpu_seconds: float
    variant_bytes: dict[str, list[int]]

    @property
    def per_second(self) -> float:
        return self.images / self.seconds


def make_sources(directory: Path) -> list[Path]:
    """6000 x 4000 JPEG (Q 90) and PNG of photo-like pixels, and a 4000 x 3000 WebP (Q 85)."""
    import pyvips

    def photo(width: int, height: int) -> Any:
        blobs = pyvips.Image.gaussnoise(width // 16, height // 16, sigma=60, mean=128, seed=1)
        blobs = blobs.gaussblur(2).resize(16, kernel="cubic")
        blobs = blobs.embed(0, 0, width, height, extend="copy")
        x, y = pyvips.Image.xyz(width, height).bandsplit()
        x, y = x * (255 / width), y * (255 / height)
        grain = pyvips.Image.gaussnoise(width, height, sigma=6, mean=0, seed=2)
        red = blobs * 0.6 + x * 0.4 + grain
        green = blobs * 0.5 + y * 0.5 + grain
        blue = (255 - blobs) * 0.5 + x * 0.2 + y * 0.3 + grain
        return red.bandjoin([green, blue]).cast("uchar").copy(interpretation="srgb")

    large = photo(6000, 4000).copy_memory()
    large.jpegsave(str(directory / "photo-24mp.jpg"), Q=90)
    large.pngsave(str(directory / "photo-24mp.png"), compression=6)
    photo(4000, 3000).webpsave(str(directory / "photo-12mp.webp"), Q=85)
    return sorted(directory.iterdir())


def libvips_variants(path: Path, effort: int) -> list[int]:
    """The product's pipeline: `render_variant` for every preset of one source."""
    import activities.imaging
    from activities.imaging import render_variant
    from core.variant_presets import DEFAULT_PRESETS

    activities.imaging.WEBP_EFFORT = effort
    size = path.stat().st_size
    return [len(render_variant(str(path), p, source_size=size).data) for p in DEFAULT_PRESETS]


def child(
    library: str, directory: Path, rounds: int, concurrency: int, effort: int, threads: int
) -> dict[str, Any]:
    """In the measured subprocess: every source `rounds` times, `concurrency` at a time."""
    from bench.variant_baseline import pillow_variants

    variants = partial(libvips_variants if library == "libvips" else pillow_variants, effort=effort)
    sources = sorted(directory.iterdir())
    if library == "libvips":  # loaded before the start RSS is read, as Pillow is
        import pyvips

        from activities.imaging import threads_per_image

        pyvips.concurrency_set(threads if threads >= 0 else threads_per_image(concurrency))
    else:
        import PIL.Image  # noqa: F401
    resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
    start_rss = resident_pages * resource.getpagesize() // 1024
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        sizes = list(pool.map(variants, sources * rounds))
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "library": library,
        "concurrency": concurrency,
        "images": len(sources) * rounds,
        "seconds": seconds,
        "start_rss_kb": start_rss,
        "peak_rss_kb": usage.ru_maxrss,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "variant_bytes": {p.name: s for p, s in zip(sources, sizes[: len(sources)], strict=True)},
    }


def measure(
    library: str, directory: Path, rounds: int, concurrency: int, effort: int, threads: int
) -> Run:
    """One fresh subprocess (`--child`), so its ru_maxrss is this run's alone."""
    argv = [sys.executable, "-m", "bench.variants", "--child", library, "--dir", str(directory)]
    argv += ["--rounds", str(rounds), "--concurrency", str(concurrency), "--effort", str(effort)]
    argv += ["--vips-threads", str(threads)]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    return Run(**json.loads(done.stdout))


def _best(runs: list[Run]) -> Run:
    """The fastest run's time, the highest peak RSS (the machine may be shared)."""
    fastest = min(runs, key=lambda r: r.seconds)
    return replace(fastest, peak_rss_kb=max(r.peak_rss_kb for r in runs))


def variants(rounds: int = 2, effort: int = 4, threads: int = -1) -> Result:
    """Figure 8: both libraries at each concurrency, 3 runs each, the same sources, one session."""
    from bench import variant_floor
    from bench.figures import Result
    from bench.report import Row

    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="bench-variants-") as scratch:
        sources = make_sources(Path(scratch))
        for concurrency in CONCURRENCIES:  # A B B A A B: a drifting load hurts both alike
            for lib in (*LIBRARIES, *reversed(LIBRARIES), *LIBRARIES):
                runs.append(measure(lib, Path(scratch), rounds, concurrency, effort, threads))
        floor = variant_floor.measure(Path(scratch), effort)
        source_bytes = {p.name: p.stat().st_size for p in sources}
    rows = []
    for concurrency in CONCURRENCIES:
        pillow, libvips = (
            _best([r for r in runs if r.concurrency == concurrency and r.library == lib])
            for lib in LIBRARIES
        )
        speedup, gate = libvips.per_second / pillow.per_second, concurrency == CONCURRENCIES[-1]
        label = f"8. Variants, {concurrency} at a time, libvips / Pillow"
        rows += [
            Row(
                f"{label} (images/s)",
                f"{libvips.per_second:.2f} / {pillow.per_second:.2f} ({speedup:.2f}x)",
                f"≥ {TARGET_SPEEDUP}x" if gate else "",
                speedup >= TARGET_SPEEDUP if gate else None,
            ),
            Row(
                f"{label} (peak RSS)",
                f"{libvips.peak_rss_kb / 1024:.0f} MB / {pillow.peak_rss_kb / 1024:.0f} MB",
                "≤ Pillow's" if gate else "",
                libvips.peak_rss_kb <= pillow.peak_rss_kb if gate else None,
            ),
        ]
    details = {"runs": runs, "source_bytes": source_bytes, "rounds": rounds, "effort": effort}
    details |= {"floor": floor, "threads": threads}
    return Result(rows, details)


def details_lines(details: dict[str, Any]) -> list[str]:
    """The sources; one line per run (time, RSS); the bytes of each library's variants."""
    sources = ", ".join(f"{n} {b / 1e6:.1f} MB" for n, b in details["source_bytes"].items())
    lines = [
        f"sources: {sources}; each run: every source x {details['rounds']} rounds;"
        f" WebP effort {details['effort']} for both libraries; libvips threads per image:"
        f" {_threads(details['threads'])}"
    ]
    for run in details["runs"]:
        lines.append(
            f"{run.library}, {run.concurrency} at a time: {run.images} images in"
            f" {run.seconds:.1f} s, {run.cpu_seconds:.1f} s of CPU; RSS"
            f" {run.start_rss_kb / 1024:.0f} MB after imports, peak {run.peak_rss_kb / 1024:.0f} MB"
        )
    for library in LIBRARIES:
        made = next(run.variant_bytes for run in details["runs"] if run.library == library)
        sizes = "; ".join(
            f"{name} → " + " / ".join(f"{n / 1000:.0f} kB" for n in bytes_)
            for name, bytes_ in made.items()
        )
        lines.append(f"{library}, thumbnail / preview / compressed: {sizes}")
    from bench import variant_floor

    return lines + variant_floor.lines(details["floor"])


def _threads(threads: int) -> str:
    if threads < 0:
        return "the worker's (threads_per_image: 2 at 1 image at a time, 1 at 2)"
    return "libvips' default (one per core)" if threads == 0 else str(threads)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.variants", description=__doc__)
    parser.add_argument("--rounds", type=int, default=2, help="times a run does each source")
    parser.add_argument("--effort", type=int, help="WebP effort of both (default: the product's)")
    parser.add_argument("--write", action="store_true", help="write docs/BENCHMARKS.md")
    parser.add_argument("--child", choices=LIBRARIES, help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument(
        "--vips-threads", type=int, default=-1, help="libvips threads per image (the lever)"
    )
    args = parser.parse_args(argv)
    if args.child:
        run = child(
            args.child, args.dir, args.rounds, args.concurrency, args.effort, args.vips_threads
        )
        sys.stdout.write(json.dumps(run))
        return 0
    from importlib.metadata import version

    from activities.imaging import WEBP_EFFORT as product_effort
    from bench.report import PACKAGES, machine, replace_section, table

    args.effort = product_effort if args.effort is None else args.effort

    about = machine()
    begun = time.monotonic()
    result = variants(rounds=args.rounds, effort=args.effort, threads=args.vips_threads)
    minutes = (time.monotonic() - begun) / 60
    lines = details_lines(result.details)
    sys.stdout.write(table(result.rows) + "\n\n" + "\n".join(lines) + "\n")
    if args.write:  # the product's effort in section "variants", a lever's in its own
        about.update({name: version(name) for name in ("pyvips", "pyvips-binary", "pillow")})
        hidden = ("date", "commit", *PACKAGES)
        command = f"python -m bench.variants --rounds {args.rounds} --effort {args.effort}"
        command += f" --vips-threads {args.vips_threads}" if args.vips_threads >= 0 else ""
        text = [
            f"Run of `{command}` on {about['date']} at commit {about['commit']}:"
            f" {minutes:.1f} minutes in all.",
            "",
            table(result.rows),
            "",
            "Machine: " + "; ".join(f"{k} {v}" for k, v in about.items() if k not in hidden) + ".",
            "",
            *(f"- {line}" for line in lines),
        ]
        lever = "" if args.effort == product_effort else f"-lever-effort-{args.effort}"
        lever += "" if args.vips_threads < 0 else f"-lever-threads-{args.vips_threads}"
        replace_section("variants" + lever, "\n".join(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
