"""Where the time goes: Prometheus counters of the worker (SDK) and of the Temporal server.

A figure snapshots both endpoints before and after its load and reports, per operation,
how many calls there were and how long they took on average (the delta of `_sum` over the
delta of `_count`), next to the CPU each of the stack's processes burned meanwhile.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")
_LABEL = re.compile(r'(\w+)="([^"]*)"')
Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Series:
    """Every sample of a Prometheus text endpoint; empty when it does not answer."""
    try:
        text = httpx.get(url, timeout=5.0).text
    except httpx.HTTPError:
        return {}
    series: Series = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None or line.startswith("#"):
            continue
        labels = tuple(sorted(_LABEL.findall(match.group(2) or "")))
        try:
            series[(match.group(1), labels)] = float(match.group(3))
        except ValueError:
            continue
    return series


@dataclass(frozen=True)
class Timing:
    """Calls of one operation during a figure, and their mean latency in ms."""

    name: str
    calls: float
    mean_ms: float


def timings(
    before: Series, after: Series, metric: str, label: str, *, seconds: float = 1.0
) -> list[Timing]:
    """Per value of `label`: calls and mean of histogram `metric` between two scrapes.

    `seconds` is the histogram's unit in seconds (the SDK reports ms: 0.001).
    """
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for (name, labels), value in after.items():
        if name not in (f"{metric}_sum", f"{metric}_count"):
            continue
        key = dict(labels).get(label, "")
        if dict(labels).get("namespace") in ("temporal-system", "temporal_system", "system"):
            continue
        delta = value - before.get((name, labels), 0.0)
        target = sums if name.endswith("_sum") else counts
        target[key] = target.get(key, 0.0) + delta
    out = [
        Timing(key, counts[key], sums.get(key, 0.0) / counts[key] * seconds * 1000)
        for key in counts
        if counts[key] > 0
    ]
    return sorted(out, key=lambda t: t.calls * t.mean_ms, reverse=True)


def counter_growth(before: Series, after: Series, metric: str) -> float:
    """How much counter `metric` (any labels; `_total` suffixed or not) grew between scrapes."""
    names = (metric, f"{metric}_total")
    return sum(
        value - before.get((name, labels), 0.0)
        for (name, labels), value in after.items()
        if name in names
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of `pid` and its descendants (a child's server processes)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for proc in _family(pid):
        try:
            fields = Path(f"/proc/{proc}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _family(pid: int) -> Iterable[int]:
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry.name))
    stack, seen = [pid], []
    while stack:
        current = stack.pop()
        seen.append(current)
        stack.extend(parents.get(current, []))
    return seen


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of `pid`, in kB."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


def reset_peak(pid: int) -> bool:
    """Reset `pid`'s VmHWM to its current RSS (Linux `clear_refs` 5); False if not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True
