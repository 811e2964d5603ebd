"""`python -m bench streams [--streams N] [--rounds R] [--rate W] [--write]`: event fan-out.

1,000 clients each follow a job's `GET /api/v1/jobs/{id}/events` on one API process. Then
the jobs' progress is written as the product writes it (`core.job_news.record_progress`:
one UPDATE whose NOTIFY the API's one LISTEN connection hears), `--rate` writes a second,
each job once per round. The figure is the delay from just before each write to the first
`progress` event at that value or above reaching its client (a stream that falls behind
sends the row as it finds it, two writes as one event), on this machine's monotonic clock,
the clients in a process of their own; and the API's RSS before the streams and with them.

The jobs are rows written straight into `jobs` (processing, no workflow): the streams and
the writes are all that runs. Their `updated_at` lies a day ahead, so the reconciler, which
settles rows quiet for a minute whose workflow is gone, leaves them alone meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped,unused-ignore]
import orjson
import uvloop

from bench.metrics import memory_kb, reset_peak
from bench.report import Row, machine, replace_section, table
from bench.stack import PYTHON, ROOT, Bench, Setup, bench_stack
from bench.stats import summary
from core.db import make_engine, make_session_factory
from core.job_news import record_progress
from devstack.health import asyncpg_dsn

INSERT = """
    INSERT INTO jobs (id, status, kind, prompt, model_name, parameters, progress, outputs,
        variants, variant_failures, retry_count, external_job_id, event_seq, created_at,
        started_at, updated_at)
    VALUES ($1, 'processing', 'generate', 'bench stream', 'bench/streams', '{}', 0, '[]',
        '[]', '[]', 0, $2, 1, $3, $3, $4)
"""


async def _rows(bench: Bench, count: int) -> list[str]:
    """`count` processing jobs, each with prediction `p-{its id}` (what progress names)."""
    ids = [uuid.uuid4() for _ in range(count)]
    now = datetime.now(UTC)
    connection = await asyncpg.connect(asyncpg_dsn(bench.stack.settings.database_url))
    try:
        await connection.executemany(
            INSERT, [(i, f"p-{i}", now, now + timedelta(days=1)) for i in ids]
        )
    finally:
        await connection.close()
    return [str(i) for i in ids]


async def readers(a: dict[str, Any]) -> dict[str, Any]:
    """The clients (a process of their own, its arguments on stdin): one stream per job; each
    `progress` event's (job, progress, monotonic time of receipt). Prints `ready` once every
    stream is open."""
    import aiohttp

    received: list[tuple[str, float, float]] = []
    opened, all_open = 0, asyncio.Event()
    gate = asyncio.Semaphore(50)  # streams being opened at once
    headers = {"Authorization": f"Bearer {a['api_key']}", "Accept": "text/event-stream"}
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=60)
    async with aiohttp.ClientSession(a["api"], connector=connector, timeout=timeout) as http:

        async def follow(job_id: str) -> bool:
            """Whether the stream lasted until the last write's event."""
            nonlocal opened
            await gate.acquire()
            live, name = False, ""
            async with http.get(f"/api/v1/jobs/{job_id}/events", headers=headers) as response:
                assert response.status == 200, response.status
                async for raw in response.content:
                    line = raw.decode().rstrip("\n")
                    if line.startswith("event:"):
                        name = line[6:].strip()
                    elif line.startswith("data:") and not live:  # the opening event
                        live = True
                        gate.release()
                        opened += 1
                        if opened == len(a["ids"]):
                            all_open.set()
                    elif line.startswith("data:") and name == "progress":
                        now = time.monotonic()
                        progress = orjson.loads(line[5:])["progress"]
                        received.append((job_id, progress, now))
                        if progress >= a["last"]:
                            return True
            return False

        opening = time.monotonic()
        tasks = [asyncio.create_task(follow(job_id)) for job_id in a["ids"]]
        try:
            await asyncio.wait_for(all_open.wait(), a["open_timeout"])
        except TimeoutError:
            failed = [t.exception() for t in tasks if t.done() and t.exception()]
            sys.stderr.write(f"{opened} of {len(tasks)} streams open; failures: {failed[:3]!r}\n")
            raise
        open_seconds = time.monotonic() - opening
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        ended, late = await asyncio.wait(tasks, timeout=a["timeout"])
        for task in late:
            task.cancel()
    # A stream that ended before the last write: the server closed it, or it broke.
    cut: dict[str, int] = {}
    for task in ended:
        if task.exception() is not None or not task.result():
            reason = type(task.exception()).__name__ if task.exception() else "closed"
            cut[reason] = cut.get(reason, 0) + 1
    return {
        "received": received,
        "unfinished": len(late),
        "cut": cut,
        "open_seconds": open_seconds,
    }


async def _write(
    bench: Bench, ids: list[str], rounds: int, rate: float
) -> tuple[dict[str, float], list[float], float]:
    """Each job's progress raised once per round, at most `rate` writes a second, 8 at a time
    (the writer's connection pool is 10): when each write began, how long each took, and
    how long they all took."""
    engine = make_engine(bench.stack.settings)
    sessions = make_session_factory(engine)
    started: dict[str, float] = {}
    took: list[float] = []
    slots = asyncio.Semaphore(8)
    tasks: list[asyncio.Task[None]] = []

    async def write(job_id: str, progress: float) -> None:
        async with slots:
            begun = time.monotonic()
            started[f"{job_id} {progress}"] = begun
            await record_progress(sessions, uuid.UUID(job_id), f"p-{job_id}", progress)
            took.append((time.monotonic() - begun) * 1000)

    begun = time.monotonic()
    try:
        for round_ in range(1, rounds + 1):
            progress = round(round_ / (rounds + 1), 4)
            for job_id in ids:
                due = begun + len(tasks) / rate
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                tasks.append(asyncio.create_task(write(job_id, progress)))
        await asyncio.gather(*tasks)
    finally:
        await engine.dispose()
    return started, took, time.monotonic() - begun


def delays_of(
    written: dict[str, float], received: list[tuple[str, float, float]]
) -> tuple[list[float], int]:
    """Per write, ms until its client first showed that progress or more, and how many
    writes no event ever showed. A stream behind its job sends the row as it is when it
    reads it, so writes close together may arrive as one event: the later one."""
    seen: dict[str, list[tuple[float, float]]] = {}
    for job_id, progress, at in received:
        seen.setdefault(job_id, []).append((at, progress))
    delays, lost = [], 0
    for key, began in written.items():
        job_id, value = key.split(" ")
        shown = [at for at, progress in sorted(seen.get(job_id, [])) if progress >= float(value)]
        if shown:
            delays.append((shown[0] - began) * 1000)
        else:
            lost += 1
    return delays, lost


def measure(bench: Bench, *, streams: int, rounds: int, rate: float) -> dict[str, Any]:
    pid = bench.pid("api")
    ids = asyncio.run(_rows(bench, streams))
    time.sleep(1)
    rss_before = memory_kb(pid)["VmRSS"]
    # The readers stop once every stream has had its events; the timeouts are for failures.
    args: dict[str, Any] = {
        "api": bench.api,
        "api_key": bench.stack.api_key,
        "ids": ids,
        "last": round(rounds / (rounds + 1), 4),  # the last round's value
        "open_timeout": 600,
        "result": str(Path(tempfile.gettempdir()) / f"bench-streams-{os.getpid()}.json"),
        "timeout": 3 * streams * rounds / rate + 120,
    }
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            [PYTHON, "-m", "bench.streams", "readers"],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, text=True,
        )  # fmt: skip
        assert proc.stdin is not None
        assert proc.stdout is not None
        proc.stdin.write(orjson.dumps(args).decode())  # the key stays out of `ps`
        proc.stdin.close()
        if proc.stdout.readline().strip() != "ready":
            errors.seek(0)
            raise RuntimeError(f"the readers did not start:\n{errors.read().decode()[:3000]}")
        time.sleep(2)
        rss_open = memory_kb(pid)["VmRSS"]
        exact_peak = reset_peak(pid)
        written, took, seconds = uvloop.run(_write(bench, ids, rounds, rate))
        rss_peak = memory_kb(pid)["VmHWM" if exact_peak else "VmRSS"]
        code = proc.wait(timeout=args["timeout"] + 60)  # they end by themselves
        if code != 0:
            errors.seek(0)
            raise RuntimeError(f"the readers failed ({code}):\n{errors.read().decode()[:3000]}")
        result = orjson.loads(Path(args["result"]).read_bytes())
        Path(args["result"]).unlink()
    delays, lost = delays_of(written, [tuple(item) for item in result["received"]])
    return {
        "streams": streams,
        "writes": len(written),
        "write_seconds": round(seconds, 1),
        "write_ms": summary(took),
        "events": len(result["received"]),
        "delivered": len(delays),
        "lost": lost,
        "unfinished_streams": result["unfinished"],
        "streams_cut": result["cut"],
        "open_seconds": round(result["open_seconds"], 1),
        "delay_ms": summary(delays),
        "rss_before_mb": round(rss_before / 1024, 1),
        "rss_open_mb": round(rss_open / 1024, 1),
        "rss_peak_mb": round(rss_peak / 1024, 1),
    }


def rows_of(r: dict[str, Any], rate: float) -> list[Row]:
    d = r["delay_ms"]
    return [
        Row(
            f"{r['streams']} streams, {rate:g} writes/s: write → client (p50 / p99 / max)",
            f"{d['p50']:.0f} ms / {d['p99']:.0f} ms / {d['max']:.0f} ms",
            "",
            None,
        ),
        Row("the write itself: UPDATE + NOTIFY, committed (p50 / p99)",
            f"{r['write_ms']['p50']:.0f} ms / {r['write_ms']['p99']:.0f} ms", "", None),
        Row("writes shown to their client / writes (in events)",
            f"{r['delivered']} / {r['writes']} (in {r['events']})", "all", r["lost"] == 0),
        Row("API RSS: before / streams open / peak while written",
            f"{r['rss_before_mb']} / {r['rss_open_mb']} / {r['rss_peak_mb']} MB", "", None),
        Row("streams cut before the last write (why)",
            f"{sum(r['streams_cut'].values())} {r['streams_cut'] or ''}", "0",
            not r["streams_cut"]),
        Row(f"{r['streams']} streams opened (50 at a time) in", f"{r['open_seconds']} s", "",
            None),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench streams", description=__doc__)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rate", type=float, default=200, help="progress writes a second")
    parser.add_argument("--write", action="store_true", help="write docs/BENCHMARKS.md")
    args = parser.parse_args(argv)
    about = machine()
    with bench_stack(Setup()) as bench:
        result = measure(bench, streams=args.streams, rounds=args.rounds, rate=args.rate)
    rows = rows_of(result, args.rate)
    sys.stdout.write(table(rows) + "\n" + orjson.dumps(result).decode() + "\n")
    if args.write:
        command = (
            f"python -m bench streams --streams {args.streams} --rounds {args.rounds}"
            f" --rate {args.rate:g}"
        )
        replace_section(
            "streams",
            f"{table(rows)}\n\nMeasured by `{command}` on {about['date']} at commit"
            f" {about['commit']} ({result['writes']} writes in {result['write_seconds']} s;"
            f" {about['nproc']} cores shared with other work, load average at the start"
            f" {about['load average at start']}).",
        )
    return 0 if result["lost"] == 0 else 1


if __name__ == "__main__" and sys.argv[1:2] == ["readers"]:
    arguments = orjson.loads(sys.stdin.read())
    found = uvloop.run(readers(arguments))
    with open(arguments["result"], "wb") as file:
        file.write(orjson.dumps(found))
