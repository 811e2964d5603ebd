"""`python -m bench commits`: the same figures at several commits, taking turns.

A lever that is a change of code has no setting that turns it off (`python -m bench levers`
measures those that have): its effect is the difference between the commit before it and its
own. Each commit is checked out into a scratch worktree, and `python -m bench --quick --only
...` runs there (that commit's code, this virtualenv), commit after commit, round after round,
so that a change in the machine's other load hits every commit alike. Each cell is the median
over the rounds; alongside, what a figure-6 job cost Temporal, the worker and the API.

    python -m bench commits --commits dd16aed,e5212d7,HEAD --only 1,6,10 --rounds 2 --write
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

from bench.report import replace_section
from bench.stats import median

log = logging.getLogger("bench")
ROOT = Path(__file__).resolve().parent.parent
# Per job in figure 6 (saturation): Temporal's history writes and signals' lookups, and CPU.
COSTS = {
    "history updates/job": ("db_calls_per_job", "UpdateWorkflowExecution"),
    "GetCurrentExecution/job": ("db_calls_per_job", "GetCurrentExecution"),
    "temporal CPU ms/job": ("cpu_ms_per_job", "temporal"),
    "worker CPU ms/job": ("cpu_ms_per_job", "worker"),
    "api CPU ms/job": ("cpu_ms_per_job", "api"),
}


def _git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def _run_at(tree: Path, only: str, out: Path) -> dict[str, Any]:
    """The quick figures `only` at the commit checked out in `tree`."""
    command = [sys.executable, "-m", "bench", "--quick", "--only", only, "--json", str(out)]
    subprocess.run(command, cwd=tree, check=True)
    loaded: dict[str, Any] = orjson.loads(out.read_bytes())
    return loaded


def _cells(result: dict[str, Any]) -> dict[str, str]:
    """One run's cells: each figure row's value, and figure 6's costs per job."""
    cells = {row["figure"]: row["value"] for key in result for row in result[key]["rows"]}
    for round_ in result.get("6", {}).get("details", {}).get("rounds", []):
        spent = round_["service"]["where"]
        for name, (group, key) in COSTS.items():
            cells.setdefault(f"6. {name}", str(spent[group].get(key, 0.0)))
    return cells


def _median_cell(values: list[str]) -> str:
    """The median of numeric cells; text cells (`82 req/s; ...`) are joined as they are."""
    try:
        return f"{median([float(v) for v in values]):g}"
    except ValueError:
        return " · ".join(values)


def measure(commits: list[str], only: str, rounds: int) -> str:
    """The table, as markdown: a row per figure, a column per commit."""
    shas = [_git("rev-parse", "--short", commit) for commit in commits]
    runs: dict[str, list[dict[str, str]]] = {sha: [] for sha in shas}
    with tempfile.TemporaryDirectory(prefix="bench-commits-") as scratch:
        trees = {}
        for sha in shas:
            trees[sha] = Path(scratch) / sha
            _git("worktree", "add", "--detach", str(trees[sha]), sha)
        try:
            for round_ in range(rounds):
                for sha in shas:
                    log.info("round %d, commit %s", round_ + 1, sha)
                    out = Path(scratch) / f"{sha}-{round_}.json"
                    runs[sha].append(_cells(_run_at(trees[sha], only, out)))
        finally:
            for tree in trees.values():
                _git("worktree", "remove", "--force", str(tree))
    names = list(dict.fromkeys(name for sha in shas for run in runs[sha] for name in run))
    header = "| figure | " + " | ".join(f"`{sha}`" for sha in shas) + " |"
    lines = [header, "|---" * (len(shas) + 1) + "|"]
    for name in names:
        cells = [_median_cell([run[name] for run in runs[sha] if name in run]) for sha in shas]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    subjects = [f"- `{sha}`: {_git('log', '-1', '--format=%s', sha)[:160]}" for sha in shas]
    about = f"`python -m bench commits --only {only} --rounds {rounds}` (quick figures)"
    return "\n".join([about, "", *lines, "", *subjects])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench commits")
    parser.add_argument("--commits", required=True, help="commits, oldest first: a,b,c")
    parser.add_argument("--only", default="1,6,10", help="figures, e.g. 1,6")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--write", action="store_true", help="to docs/BENCHMARKS.md")
    args = parser.parse_args(argv)
    text = measure(args.commits.split(","), args.only, args.rounds)
    sys.stdout.write(text + "\n")
    if args.write:
        replace_section("commits-issue-19", text)
    return 0
