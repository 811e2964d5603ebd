"""Fixtures of the fault suite: each scenario module runs on a stack of its own.

Killing servers there never disturbs the session stack the other tests use. A module sets
`STACK_ENV` (extra environment for every child, e.g. the fake provider's global fault
rates) to shape its stack. Each scenario prints one summary line (see `checker.Outcome`),
both when it ends and again in the terminal summary of the run.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from core.api_keys import bearer
from core.db import make_engine, make_session_factory
from core.storage import Storage
from core.temporal import connect_temporal
from devstack import Stack
from devstack.isolated import TEST_ENV, isolated_settings
from tests.faults.harness import FaultEnv

SUMMARY_LINES = pytest.StashKey[list[str]]()


@pytest.fixture(scope="module")
def fault_stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    """A whole stack (servers, migration, worker, API) for this module's scenario only.

    Its data and logs are deleted afterwards, unless a test of the module failed: then they
    stay (outside pytest's own temporary directories, which concurrent runs prune) and the
    terminal summary names where.
    """
    extra = getattr(request.module, "STACK_ENV", {})
    data = Path(tempfile.mkdtemp(prefix=f"mediagen-{request.module.__name__.rsplit('.', 1)[-1]}-"))
    stack = Stack(isolated_settings(data), extra_env={**TEST_ENV, **extra})
    failed_before = request.session.testsfailed
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        if request.session.testsfailed > failed_before:
            kept = (
                f"fault suite: {request.module.__name__} failed; its stack's logs: {data / 'logs'}"
            )
            request.config.stash.setdefault(SUMMARY_LINES, []).append(kept)
        else:
            shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="module")
async def faults(fault_stack: Stack) -> AsyncIterator[FaultEnv]:
    """Clients of the module's stack: its API, Temporal, bucket and database."""
    settings = fault_stack.settings
    engine = make_engine(settings)
    storage = Storage.from_settings(settings)
    temporal = await connect_temporal(settings)
    headers = bearer(fault_stack.api_key)
    async with httpx.AsyncClient(base_url=settings.api_url, headers=headers, timeout=30) as api:
        try:
            yield FaultEnv(
                stack=fault_stack,
                api=api,
                temporal=temporal,
                storage=storage,
                sessions=make_session_factory(engine),
            )
        finally:
            await storage.close()
            await engine.dispose()


@pytest.fixture
def report(
    request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> Callable[[str], None]:
    """Writes a scenario's summary line to the terminal now, and again at the end of the run."""

    def emit(line: str) -> None:
        request.config.stash.setdefault(SUMMARY_LINES, []).append(line)
        with capsys.disabled():
            sys.stdout.write(f"\n{line}\n")
            sys.stdout.flush()

    return emit


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    lines = config.stash.get(SUMMARY_LINES, [])
    if lines:
        terminalreporter.section("fault suite")
        for line in lines:
            terminalreporter.write_line(line)
