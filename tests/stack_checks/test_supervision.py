"""Supervision with trivial children: failed starts, busy ports, pauses, crash loops, `up-deps`."""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped,unused-ignore]
import pytest

from devstack import ChildSpec, Stack, StackError
from devstack.isolated import isolated_settings
from devstack.servers import ROOT
from tests.stack_checks.support import alive, mentioning, running_up, wait_for


def python_child(name: str, code: str, phase: int = 0, **kwargs: Any) -> ChildSpec:
    return ChildSpec(name, [sys.executable, "-c", code], phase, **kwargs)


def test_a_child_that_dies_at_start_is_named_with_its_log(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path)
    code = "import sys; print('boom: no config', flush=True); sys.exit(3)"
    child = python_child("broken", code, health=lambda: False, about="a broken server")
    with pytest.raises(StackError) as failure:
        Stack(settings, specs=[child]).start()
    message = str(failure.value)
    assert message.startswith("broken died before answering its health check: exited with code 3")
    assert "boom: no config" in message
    assert str(tmp_path / "logs" / "broken.log") in message


def test_a_child_that_never_gets_healthy_fails_the_start_and_is_stopped(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path, health_timeout=1.0, stop_timeout=2.0)

    def sleeper(name: str, phase: int, **kwargs: Any) -> ChildSpec:
        code = f"import os, time; open({str(tmp_path / name)!r}, 'w').write(str(os.getpid()))"
        return python_child(name, code + "; time.sleep(300)", phase, **kwargs)

    first = sleeper("first", 0)
    sleepy = sleeper("sleepy", 1, health=lambda: False, about="never ready")
    stack = Stack(settings, specs=[first, sleepy])
    with pytest.raises(
        StackError, match=r"sleepy \(never ready\) did not answer its health check within 1 s"
    ):
        stack.start()
    assert stack.pids() == {}
    for name in ("first", "sleepy"):
        assert not psutil.pid_exists(int((tmp_path / name).read_text()))


def test_a_busy_port_is_named(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        child = python_child("server", "pass", ports=(port,), about="a server")
        with pytest.raises(
            StackError, match=rf"server \(a server\) cannot start: port\(s\) \[{port}\]"
        ):
            Stack(settings, specs=[child]).start()


def test_a_paused_child_still_stops_cleanly(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path, stop_timeout=5.0)
    stack = Stack(settings, specs=[python_child("paused", "import time; time.sleep(300)")])
    stack.start()
    try:
        pid = stack.pid("paused")
        assert pid is not None
        stack.kill("paused", signal.SIGSTOP)
        wait_for(lambda: psutil.Process(pid).status() == psutil.STATUS_STOPPED, 5, "the pause")
        begun = time.monotonic()
        assert stack.stop_child("paused") == -signal.SIGTERM
        assert time.monotonic() - begun < 4
    finally:
        stack.stop()


def test_a_child_dying_too_often_stops_the_supervision(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = isolated_settings(tmp_path, restart_limit=2, restart_window=60.0)
    code = "import sys, time; print('crashing', flush=True); time.sleep(0.3); sys.exit(7)"
    stack = Stack(settings, specs=[python_child("flaky", code)])
    caplog.set_level(logging.INFO, logger="devstack")
    stack.start()
    try:
        with pytest.raises(StackError) as failure:
            stack.supervise(interval=0.1)
    finally:
        stack.stop()
    assert str(failure.value).startswith("flaky died 3 times within 60 s (restart limit 2)")
    assert "crashing" in str(failure.value)
    assert caplog.text.count("exited with code 7") == 3
    assert caplog.text.count("restarting flaky") == 2


def test_children_die_with_a_killed_supervisor(tmp_path: Path) -> None:
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from devstack import ChildSpec, Stack\n"
        "from devstack.isolated import isolated_settings\n"
        "child = ChildSpec('orphan', [sys.executable, '-c', 'import time; time.sleep(300)'], 0)\n"
        "stack = Stack(isolated_settings(Path(sys.argv[1])), specs=[child])\n"
        "stack.start()\n"
        "print(stack.pid('orphan'), flush=True)\n"
        "time.sleep(300)\n"
    )
    supervisor = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert supervisor.stdout is not None
        child = psutil.Process(int(supervisor.stdout.readline()))
        assert child.is_running()
        supervisor.kill()
        supervisor.wait(10)
        child.wait(10)  # raises TimeoutExpired if it outlives its supervisor
        assert not alive([child])
    finally:
        supervisor.kill()
        supervisor.wait()
        if supervisor.stdout is not None:
            supervisor.stdout.close()


def test_up_deps_only_runs_until_sigint_and_cleans_up(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path / "data")
    output = tmp_path / "up.log"
    with running_up(settings, output, "--deps-only", ready="servers are up") as (up, printed):
        text = printed()
        assert settings.temporal_ui_url in text
        assert settings.s3_url in text
        assert httpx.get(settings.temporal_ui_url).status_code == 200
        assert httpx.get(settings.s3_url).status_code in (200, 403)
        assert mentioning(settings.data_path) != []
        up.send_signal(signal.SIGINT)
        assert up.wait(60) == 0, printed()
    text = output.read_text()
    assert "SIGINT received, stopping" in text
    assert "everything stopped" in text
    assert mentioning(settings.data_path) == []
    assert text.index("stopped fake_replicate") < text.index("stopped postgres")
