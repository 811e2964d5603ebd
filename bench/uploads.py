"""Figure 9: a burst of uploads. `python -m bench uploads [--count N] [--megabytes M] [--write]`.

100 uploads of 5 MB (photo-like JPEGs) are sent at once to one API process of the bench
stack, each into every variant; every job must complete. The API streams each body into the
bucket through a spooled temporary file, so its memory must not grow with the bytes in
flight: its peak RSS (VmHWM) over its RSS before the burst is the figure, beside the time
from the first byte sent to the last job completed.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import math
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from bench.report import Row, machine, replace_section, table
from bench.stack import Bench, Setup, bench_stack

TERMINAL = {"completed", "failed", "canceled"}
RSS_TARGET_MB = 64


def photo_of(megabytes: float, seed: int, side: int | None = None) -> bytes:
    """A JPEG of about `megabytes` (noise and a gradient: it does not compress away).

    Its side comes from the bytes per pixel of one trial image (`image_side`), not from a
    guess: a guessed 0.9 bytes per pixel made 3.8 MB images of a "5 MB" burst.
    """
    side = side or image_side(megabytes)
    noise = Image.effect_noise((side, side), 50 + seed % 20).convert("RGB")
    gradient = Image.linear_gradient("L").resize((side, side)).convert("RGB")
    out = io.BytesIO()
    Image.blend(noise, gradient, 0.3).save(out, "JPEG", quality=92)
    return out.getvalue()


def image_side(megabytes: float) -> int:
    """The side of a square `photo_of` image of about `megabytes`, from one trial at 1000."""
    trial = 1000
    per_pixel = len(photo_of(1, 0, side=trial)) / trial**2
    return round(math.sqrt(megabytes * 1_000_000 / per_pixel))


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


async def _burst(bench: Bench, images: list[bytes]) -> dict[str, Any]:
    pid = bench.pid("api")
    headers = {"Authorization": f"Bearer {bench.stack.api_key}"}
    limits = httpx.Limits(max_connections=len(images))
    async with httpx.AsyncClient(
        base_url=bench.api, headers=headers, timeout=300, limits=limits
    ) as api:
        await api.get("/health")
        rss_before = _status_kb(pid, "VmRSS")
        began = time.monotonic()

        async def one(index: int, data: bytes) -> str:
            files = {"file": (f"burst-{index}.jpg", data, "image/jpeg")}
            response = await api.post("/api/v1/uploads", files=files)
            response.raise_for_status()
            return str(response.json()["id"])

        ids = await asyncio.gather(*(one(i, data) for i, data in enumerate(images)))
        accepted = time.monotonic() - began
        peak = _status_kb(pid, "VmHWM")
        statuses = await _ends(api, ids)
    return {
        "uploads": len(images),
        "megabytes": round(sum(map(len, images)) / 1e6, 1),
        "completed": statuses.count("completed"),
        "accepted_s": round(accepted, 1),
        "all_done_s": round(time.monotonic() - began, 1),
        "rss_before_mb": round(rss_before / 1024, 1),
        "rss_growth_mb": round((peak - rss_before) / 1024, 1),
    }


async def _ends(api: httpx.AsyncClient, ids: list[str]) -> list[str]:
    statuses = []
    for job_id in ids:
        for _ in range(3000):
            status = str((await api.get(f"/api/v1/status/{job_id}")).json()["status"])
            if status in TERMINAL:
                break
            await asyncio.sleep(0.2)
        statuses.append(status)
    return statuses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench uploads", description=__doc__)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--megabytes", type=float, default=5.0)
    parser.add_argument("--write", action="store_true", help="write docs/BENCHMARKS.md")
    args = parser.parse_args(argv)
    side = image_side(args.megabytes)
    images = [photo_of(args.megabytes, seed, side) for seed in range(args.count)]
    with bench_stack(Setup("committed")) as bench:
        result = asyncio.run(_burst(bench, images))
    done = result["completed"] == result["uploads"]
    rows = [
        Row("uploads completed", f"{result['completed']}/{result['uploads']}", "all", done),
        Row("API peak RSS growth", f"{result['rss_growth_mb']} MB", f"<= {RSS_TARGET_MB} MB",
            result["rss_growth_mb"] <= RSS_TARGET_MB),
        Row("all accepted after", f"{result['accepted_s']} s", "", None),
        Row("all completed after", f"{result['all_done_s']} s", "", None),
        Row("API RSS before", f"{result['rss_before_mb']} MB", "", None),
    ]  # fmt: skip
    sys.stdout.write(table(rows) + "\n")
    if args.write:
        about = machine()
        command = f"python -m bench uploads --count {args.count} --megabytes {args.megabytes}"
        text = [
            f"Run of `{command}` on {about['date']} at commit {about['commit']}"
            f" ({result['megabytes']} MB sent at once):",
            "",
            table(rows),
            "",
            "Machine: "
            + "; ".join(f"{k} {v}" for k, v in about.items() if k not in ("date", "commit"))
            + ".",
        ]
        replace_section("uploads", "\n".join(text))
    met = all(row.passed is not False for row in rows)
    return 0 if met else 1
