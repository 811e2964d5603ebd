"""`python -m bench commits`: the same figures at several commits, taking turns.

A lever that is a change of code has no setting that turns it off (`python -m bench levers`
measures those that have): its effect is the difference between the commit before it and its
own. Each commit is checked out into a scratch worktree, and `python -m bench --quick --only
...` runs there (that commit's code, this virtualenv), commit after commit, round after round,
so that a change in the machine's other load hits every commit alike. Each cell is the median
over the rounds; alongside, what a job of figures 6 and 10 cost Temporal, the worker and the
API.

    python -m bench commits --commits dd16aed,e5212d7,HEAD --only 1,6,10 --rounds 2 --write
"""

from __future__ import annotations

import argparse
import logging
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

from bench.report import replace_section
from bench.stats import median

log = logging.getLogger("bench")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
ROOT = Path(__file__).resolve().parent.parent
# Per job in figures 6 (saturation) and 10 (the peers' run): Temporal's history writes and
# signals' lookups, and CPU.
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
    rounds = result.get("6", {}).get("details", {}).get("rounds", [])
    peers = result.get("10", {}).get("details", {}).get("run", {})
    spent_by_figure = {
        "6": rounds[0]["service"]["where"] if rounds else None,  # a quick run has one round
        "10": peers.get("where"),
    }
    for figure, spent in spent_by_figure.items():
        for name, (group, key) in COSTS.items():
            if spent is not None:
                cells[f"{figure}. {name}"] = str(spent[group].get(key, 0.0))
    return cells


def _median_cell(values: list[str]) -> str:
    """The rounds' cells as one: each number the median of its place across the rounds
    (`82 req/s; 248 starts/s` and `70 req/s; 230 starts/s` give `76 req/s; 239 starts/s`);
    cells that do not line up are joined as they are."""
    shapes = {_NUMBER.sub("#", value) for value in values}
    if len(shapes) != 1:
        return " · ".join(values)
    columns = zip(*(_NUMBER.findall(value) for value in values), strict=True)
    medians = iter(f"{median([float(n) for n in column]):.3g}" for column in columns)
    return _NUMBER.sub(lambda _: next(medians), values[0])


def measure(commits: list[str], only: str, rounds: int) -> str:
    """The table, as markdown: a row per figure, a column per commit."""
    shas = list(dict.fromkeys(_git("rev-parse", "--short", commit) for commit in commits))
    runs: dict[str, list[dict[str, str]]] = {sha: [] for sha in shas}
    with tempfile.TemporaryDirectory(prefix="bench-commits-") as scratch:
        trees = {sha: Path(scratch) / sha for sha in shas}
        try:
            for sha, tree in trees.items():
                _git("worktree", "add", "--detach", str(tree), sha)
            for round_ in range(rounds):
                for sha in shas:
                    log.info("round %d, commit %s", round_ + 1, sha)
                    out = Path(scratch) / f"{sha}-{round_}.json"
                    runs[sha].append(_cells(_run_at(trees[sha], only, out)))
        finally:
            for tree in trees.values():
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT)
            _git("worktree", "prune")
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
