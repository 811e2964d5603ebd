"""The bench's one stack, its load processes, and the variants the lever experiments swap in.

The stack is the test stack (`devstack.isolated.isolated_settings`: free ports, scratch
directory), started once. A `Setup` can change how its children run before they start
(extra Temporal dev-server flags, another worker or API module, extra environment), which
is how the lever experiments configure what the product's own settings do not reach.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from devstack import Stack
from devstack.isolated import TEST_ENV, isolated_settings, running

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


@dataclass(frozen=True)
class Setup:
    """How the stack's children run: the product as committed unless a field says otherwise."""

    name: str = "as committed"
    temporal_args: tuple[str, ...] = ()  # appended to `temporal server start-dev`
    # Flags removed with their value: "--db-filename", or "FLAG VALUE" for one such pair.
    drop_temporal_args: tuple[str, ...] = ()
    worker_env: Mapping[str, str] = field(default_factory=dict)
    api_env: Mapping[str, str] = field(default_factory=dict)

    def apply(self, stack: Stack) -> None:
        temporal = stack.spec("temporal")
        assert temporal.argv is not None
        argv = list(temporal.argv)
        for dropped in self.drop_temporal_args:
            flag, _, value = dropped.partition(" ")
            argv = _without(argv, flag, value)
        temporal.argv = argv + list(self.temporal_args)
        worker, api = stack.spec("worker"), stack.spec("api")
        worker.env = {**worker.env, **self.worker_env}
        api.env = {**api.env, **self.api_env}


def _without(argv: list[str], flag: str, value: str) -> list[str]:
    out, skip = [], False
    for index, arg in enumerate(argv):
        if skip:
            skip = False
            continue
        following = argv[index + 1] if index + 1 < len(argv) else ""
        if arg == flag and (not value or following == value):
            skip = True
            continue
        out.append(arg)
    return out


@dataclass
class Bench:
    """The running stack and what the figures need to reach it."""

    stack: Stack
    setup: Setup

    @property
    def env(self) -> dict[str, str]:
        return dict(self.stack.env)

    @property
    def api(self) -> str:
        return self.stack.settings.api_url

    @property
    def fake(self) -> str:
        return f"http://127.0.0.1:{self.stack.settings.fake_replicate_port}"

    @property
    def temporal_metrics(self) -> str:
        return f"http://127.0.0.1:{self.stack.settings.temporal_metrics_port}/metrics"

    @property
    def worker_metrics(self) -> str:
        return f"http://127.0.0.1:{self.stack.settings.worker_metrics_port}/metrics"

    def pid(self, name: str) -> int:
        pid = self.stack.pid(name)
        if pid is None:
            raise RuntimeError(f"{name} is not running")
        return pid

    def load(self, mode: str, **args: Any) -> dict[str, Any]:
        """Run one load generator process to its end; its JSON result."""
        args = {
            "api": self.api,
            "api_key": self.stack.api_key,
            "database_url": self.stack.settings.database_url,
            **args,
        }
        return _run_json([PYTHON, "-m", "bench.load", mode, orjson.dumps(args).decode()])

    def bare(self, **args: Any) -> dict[str, Any]:
        """Drive the bare-workflow floor (a `BareWorker` must be running on args' queue)."""
        return _run_json([PYTHON, "-m", "bench.bare", "drive", orjson.dumps(args).decode()])


def _run_json(argv: list[str]) -> dict[str, Any]:
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{argv[2]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result: dict[str, Any] = orjson.loads(done.stdout.strip().splitlines()[-1])
    return result


@contextmanager
def bare_worker(queue: str) -> Iterator[int]:
    """A bare-workflow worker process on `queue` (its pid), stopped on exit."""
    proc = subprocess.Popen(
        [PYTHON, "-m", "bench.bare", "worker", queue],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the bare worker did not start")
        yield proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def bench_stack(setup: Setup) -> Iterator[Bench]:
    """Start the whole stack once (in a scratch directory), yield it, stop it and clean up."""
    data_dir = Path(tempfile.mkdtemp(prefix="mediagen-bench-"))
    stack = Stack(isolated_settings(data_dir), extra_env=TEST_ENV)
    setup.apply(stack)
    try:
        with running(stack):  # the load processes read the stack's settings from the env
            yield Bench(stack, setup)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
