"""Session fixtures: `stack`, the whole service on free ports with its state in a scratch dir.

The stack is started once per session and stopped at its end (also after a failure or
Ctrl-C). While it runs, `os.environ` holds its settings, so `core.config.get_settings()` in
a test points at it. `pytest --stack-children=postgres,temporal,s3` starts only some of the
children (for quick work on the stack itself; tests of the service need them all).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack import CHILDREN, Stack
from devstack.isolated import TEST_ENV, isolated_settings, running


def pytest_addoption(parser: pytest.Parser) -> None:
    """`--stack-children`: the children the session stack starts."""
    parser.addoption(
        "--stack-children",
        default=",".join(CHILDREN),
        help=f"comma-separated children of the session stack (default: {','.join(CHILDREN)})",
    )


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    """The service's full stack (servers, migration, worker, API), isolated from the machine.

    Fault tests may `stack.kill(name, sig)`, `stack.stop_child(name)`,
    `stack.start_child(name)` or `stack.restart(name)`; a test that leaves a child down
    should bring it back.
    """
    children = [name.strip() for name in request.config.getoption("--stack-children").split(",")]
    # Not under pytest's basetemp: another pytest run on the machine prunes old numbered
    # directories there, the running stack's data with them.
    data = Path(tempfile.mkdtemp(prefix="mediagen-session-"))
    settings = isolated_settings(data)
    the_stack = Stack(settings, [name for name in children if name], extra_env=TEST_ENV)
    failed_before = request.session.testsfailed
    with running(the_stack):
        yield the_stack
    if request.session.testsfailed == failed_before:
        shutil.rmtree(data, ignore_errors=True)
    else:
        sys.stderr.write(f"\nthe session stack's data and logs stay in {data}\n")
