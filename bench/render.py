"""The generated Markdown: the table, the machine, and each figure's details."""

from __future__ import annotations

from typing import Any

from bench.figures import Result
from bench.report import Row, table


def _where(spent: dict[str, Any]) -> str:
    """One line: CPU cores per process, then Temporal's persistence calls per job."""
    cpu = ", ".join(f"{name} {cores:.2f}" for name, cores in spent["cpu_cores"].items() if cores)
    calls = spent["db_calls_per_job"]
    top = sorted(calls.items(), key=lambda item: item[1], reverse=True)[:6]
    sdk = spent.get("sdk_mean_ms", {})
    queued = sdk.get("wft queued")
    line = f"CPU cores: {cpu}. Temporal persistence calls per job: " + ", ".join(
        f"{name} {count:g}" for name, count in top
    )
    line += f" ({sum(calls.values()):.0f} in all, {spent['db_ms_per_job']:.0f} ms of DB time)"
    per_job = spent.get("cpu_ms_per_job", {})
    line += "; CPU ms per job: " + ", ".join(
        f"{name} {per_job[name]:.0f}" for name in ("temporal", "worker", "api") if name in per_job
    )
    if queued is not None:
        line += f"; workflow tasks waited {queued:.0f} ms for the worker on average"
    cache = spent.get("sticky_cache_per_job")
    if cache:
        line += (
            f"; workflow cache per job: {cache['hit']:g} hits,"
            f" {cache['miss']:g} misses (each a full replay), {cache['evicted']:g} evictions"
        )
    return line + "."


def _overhead(d: dict[str, Any]) -> list[str]:
    lines = []
    for i, run in enumerate(d["runs"], 1):
        lines.append(
            f"run {i}: service p50 {run['service_p50_ms']} ms, p99 {run['service_p99_ms']} ms;"
            f" floor p50 {run['floor_p50_ms']} ms, p99 {run['floor_p99_ms']} ms"
        )
    lines.append("service, run 1: " + _where(d["runs"][0]["where"]))
    return lines


def _submit(d: dict[str, Any]) -> list[str]:
    lines = []
    for clients, runs in d["runs"].items():
        lines += [
            f"{clients} clients, run {i}: {r['rps']:.0f} req/s (bare starts"
            f" {r['bare_starts_rps']:.0f}/s, {r['ratio']:.2f}x), p50"
            f" {r['latency_ms']['p50']:.0f} ms, p99 {r['latency_ms']['p99']:.0f} ms,"
            f" {r['errors']} errors, outbox drained {r['drain_s']} s after the run,"
            f" load generator {r['cpu_s']:.1f} CPU s"
            for i, r in enumerate(runs, 1)
        ]
        lines.append(f"{clients} clients, run 1: " + _where(runs[0]["where"]))
    for i, r in enumerate(d.get("paced", []), 1):
        lag = r["start_lag_ms"]
        lines.append(
            f"paced run {i}: {r['rps']:.0f} submits/s, {r['errors']} errors, submit p99"
            f" {r['latency_ms']['p99']:.0f} ms; submit → started p50 {lag['p50']:.0f} ms,"
            f" p99 {lag['p99']:.0f} ms, max {lag['max']:.0f} ms over {lag['n']} jobs"
        )
    if d.get("paced"):
        lines.append("paced run 1: " + _where(d["paced"][0]["where"]))
    return lines


def _peers(d: dict[str, Any]) -> list[str]:
    r = d["run"]
    return [
        f"submitted {r['submitted']} in {r['submit_s']:.1f} s; completed {r['completed']},"
        f" failed {r['failed']}, unfinished {r['unfinished']}; last completed"
        f" {r['all_done_s']:.1f} s after the first submit",
        _where(r["where"]),
    ]


def _saturation(d: dict[str, Any]) -> list[str]:
    lines = []
    for i, rnd in enumerate(d["rounds"], 1):
        s, f = rnd["service"], rnd["floor"]
        lines.append(
            f"round {i}: service {s['windows'][0] / s['window_s']:.1f} jobs/s"
            f" (e2e p50 {s['e2e_s']['p50']:.1f} s), floor {f['windows'][0] / f['window_s']:.1f} wf/s"
        )
    first = d["rounds"][0]
    failures = [f for rnd in d["rounds"] for f in rnd["service"].get("failures", [])]
    if failures:
        lines.append("failures (first 3): " + "; ".join(failures[:3]))
    lines.append("service, round 1: " + _where(first["service"]["where"]))
    lines.append("floor, round 1: " + _where(first["floor"]["where"]))
    return lines


def _sustained(d: dict[str, Any]) -> list[str]:
    return [
        f"completions per {d['window_s']:g} s window: {d['windows']}; completed {d['completed']},"
        f" failed {d['failed']}, unfinished {d['unfinished']}, job retries {d['retries']};"
        f" submit → completed p50 {d['e2e_s']['p50']:.1f} s, p99 {d['e2e_s']['p99']:.1f} s",
        *(["failures (first 3): " + "; ".join(d["failures"][:3])] if d.get("failures") else []),
        _where(d["where"]),
    ]


def _in_flight(d: dict[str, Any]) -> list[str]:
    lag = d["lag_ms"]
    return [
        f"submitted {d['submitted']} in {d['submit_s']:.0f} s; completed {d['completed']},"
        f" failed {d['failed']}, unfinished {d['unfinished']}, job retries {d['retries']};"
        f" all done {d['all_done_s']:.0f} s after the first submit",
        f"provider finished → completed: p50 {lag['p50']:.0f} ms, p90 {lag['p90']:.0f} ms,"
        f" p99 {lag['p99']:.0f} ms, max {lag['max']:.0f} ms (over {lag['n']} completed jobs)",
        f"worker RSS {d['rss_before_kb'] / 1024:.0f} MB before, peak {d['rss_peak_kb'] / 1024:.0f} MB;"
        f" server timeouts: {d['where']['server_timeouts'] or 'none'}",
        _where(d["where"]),
    ]


def _big_output(d: dict[str, Any]) -> list[str]:
    return [
        f"worker RSS {d['rss_before_kb'] / 1024:.1f} MB before, peak {d['rss_peak_kb'] / 1024:.1f} MB"
        f" ({d['peak_from']}); {d['stored_bytes']} bytes in the bucket after {d['seconds']} s"
    ]


def _listing(d: dict[str, Any]) -> list[str]:
    return [
        f"{name}: p50 {page['p50_ms']} ms, p99 {page['p99_ms']} ms over {d['requests']}"
        f" requests (total {page['total']:,})"
        for name, page in d["pages"].items()
    ]


DETAILS = {
    "1": ("Submit", _submit),
    "2": ("Overhead", _overhead),
    "3": ("Sustained throughput", _sustained),
    "4": ("In flight", _in_flight),
    "5": ("Big output", _big_output),
    "6": ("Saturation", _saturation),
    "7": ("Listing", _listing),
    "10": ("Peers' run", _peers),
}


def markdown(
    results: dict[str, Result], machine: dict[str, str], *, setup: str, seconds: float, command: str
) -> str:
    rows: list[Row] = [row for key in sorted(results, key=int) for row in results[key].rows]
    out = [
        f"Run of `{command}` on {machine['date']} at commit {machine['commit']}:"
        f" {seconds / 60:.1f} minutes in all; setup: {setup}.",
        "",
        table(rows),
        "",
        "Machine: "
        + "; ".join(f"{k} {v}" for k, v in machine.items() if k not in ("date", "commit"))
        + ".",
        "",
        'Details (each line is one run; "CPU cores" is the CPU each process used while'
        " the figure ran, out of 2):",
        "",
    ]
    for key in sorted(results, key=int):
        title, render = DETAILS[key]
        out.append(f"- Figure {key}, {title}:")
        out.extend(f"  - {line}" for line in render(results[key].details))
    return "\n".join(out)
