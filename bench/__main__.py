"""`python -m bench` (`make bench`): figures 1-7 and 10 on one stack, a table, the doc.

python -m bench                  those figures, to docs/BENCHMARKS.md
python -m bench --only 2,5       some figures (not written unless --write)
python -m bench --quick          short runs, for working on the bench itself
python -m bench levers           the lever experiments (see levers.py)
python -m bench variants         figure 8, libvips against Pillow (no stack; see variants.py)
python -m bench uploads          figure 9, 100 uploads of 5 MB at once (see uploads.py)
python -m bench progress         1,000 jobs in flight, progress on and off (see progress.py)
python -m bench streams          1,000 event streams on one API process (see streams.py)
python -m bench commits --commits A,B --only 1,6
                                 quick figures at several commits in turn (see commits.py)
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from bench import figures, starts, throughput
from bench.figures import Result
from bench.listing import listing
from bench.render import markdown
from bench.report import machine, replace_section, table
from bench.stack import Bench, Setup, bench_stack

log = logging.getLogger("bench")
ORDER = (
    "7",
    "2",
    "5",
    "6",
    "3",
    "1",
    "10",
    "4",
)  # the quiet figures first; the one that may overrun last
BUDGET_SECONDS = 13.5 * 60  # `make bench` must end within 15 minutes, teardown included


@dataclass(frozen=True)
class Plan:
    """Run counts and durations; `FULL` is what the targets are about."""

    overhead_runs: int = 3
    overhead_jobs: int = 30
    submit_runs: int = 3
    submit_seconds: float = 20
    submit_clients: tuple[int, ...] = (20, 50)
    paced_rate: float = 50
    saturation_rounds: int = 3
    saturation_seconds: float = 20  # x 3 rounds: 60 s of service load in all
    floor_seconds: float = 10
    saturation_in_flight: int = 50
    sustained_seconds: float = 60
    sustained_window: float = 20
    sustained_in_flight: int = 200
    burst_jobs: int = 5000
    burst_latency: float = 60
    listed_jobs: int = 10_000
    list_requests: int = 200


FULL = Plan()
QUICK = Plan(
    overhead_runs=1, overhead_jobs=10, submit_runs=1, submit_seconds=5, saturation_rounds=1,
    saturation_seconds=10, floor_seconds=5, sustained_seconds=20, sustained_window=10,
    burst_jobs=300, burst_latency=10, list_requests=20,
)  # fmt: skip


def _figures(plan: Plan, deadline: float) -> dict[str, Callable[[Bench], Result]]:
    p = plan
    return {
        "1": lambda b: starts.figure(
            b,
            runs=p.submit_runs,
            seconds=p.submit_seconds,
            clients=p.submit_clients,
            rate=p.paced_rate,
        ),
        "10": starts.peers,
        "2": lambda b: figures.overhead(b, runs=p.overhead_runs, jobs=p.overhead_jobs),
        "3": lambda b: throughput.sustained(
            b,
            seconds=p.sustained_seconds,
            window=p.sustained_window,
            in_flight=p.sustained_in_flight,
        ),
        "4": lambda b: throughput.in_flight(
            b,
            jobs=p.burst_jobs,
            latency=p.burst_latency,
            timeout=max(p.burst_latency + 60, deadline - time.monotonic() - 45),
        ),
        "5": figures.big_output,
        "7": lambda b: listing(b, jobs=p.listed_jobs, requests=p.list_requests),
        "6": lambda b: throughput.saturation(
            b,
            rounds=p.saturation_rounds,
            seconds=p.saturation_seconds,
            floor_seconds=p.floor_seconds,
            concurrency=p.saturation_in_flight,
        ),
    }


def run(args: argparse.Namespace) -> int:
    begun = time.monotonic()
    chosen = [key for key in ORDER if key in args.only.split(",")]
    setup = Setup()
    about = machine()
    plan = QUICK if args.quick else FULL
    runners = _figures(plan, begun + BUDGET_SECONDS)
    results: dict[str, Result] = {}
    with bench_stack(setup) as bench:
        log.info("stack up in %.0f s (setup: %s)", time.monotonic() - begun, setup.name)
        for key in chosen:
            started = time.monotonic()
            log.info("figure %s ...", key)
            results[key] = runners[key](bench)
            for row in results[key].rows:
                log.info("  %s: %s  [%s] %s", row.figure, row.value, row.target, row.verdict)
            log.info("figure %s took %.0f s", key, time.monotonic() - started)
    seconds = time.monotonic() - begun
    rows = [row for key in sorted(results, key=int) for row in results[key].rows]
    sys.stdout.write(table(rows) + f"\n\n{len(chosen)} figures in {seconds / 60:.1f} min\n")
    command = "python -m bench" + "".join(f" {a}" for a in sys.argv[1:])
    if args.write or (not args.quick and len(chosen) == len(ORDER)):
        text = markdown(results, about, setup=setup.name, seconds=seconds, command=command)
        replace_section("figures", text)
        log.info("wrote docs/BENCHMARKS.md")
    if args.json:
        dump = {key: {"rows": [r.__dict__ for r in res.rows], "details": res.details}
                for key, res in results.items()}  # fmt: skip
        Path(args.json).write_text(orjson.dumps(dump, option=orjson.OPT_INDENT_2).decode())
    failed = [row.figure for row in rows if row.passed is False]
    return 1 if args.strict and failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "command",
        nargs="?",
        default="figures",
        choices=("figures", "levers", "variants", "uploads", "progress", "streams", "commits"),
    )
    parser.add_argument("--only", default=",".join(ORDER), help="figures, e.g. 2,5")
    parser.add_argument("--quick", action="store_true", help="short runs (not for the record)")
    parser.add_argument("--write", action="store_true", help="write docs/BENCHMARKS.md anyway")
    parser.add_argument("--json", default="", help="also write every measurement to this file")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--levers", default="", help="levers: which experiments (default all)")
    # `progress`, `streams` and `commits` take their own options (--jobs, --rounds, ...).
    args, rest = parser.parse_known_args()
    if rest and args.command not in ("progress", "streams", "commits"):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if args.command == "levers":
        from bench.levers import run_levers

        return run_levers(args)
    if args.command == "variants":
        from bench.variants import main as run_variants

        return run_variants(["--write"] if args.write else [])
    if args.command == "uploads":
        from bench.uploads import main as run_uploads

        return run_uploads(["--write"] if args.write else [])
    if args.command == "progress":
        from bench.progress import main as run_progress

        return run_progress((["--write"] if args.write else []) + rest)
    if args.command == "streams":
        from bench.streams import main as run_streams

        return run_streams((["--write"] if args.write else []) + rest)
    if args.command == "commits":
        from bench.commits import main as run_commits

        only = ["--only", args.only] if args.only != ",".join(ORDER) else []
        return run_commits((["--write"] if args.write else []) + only + rest)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
