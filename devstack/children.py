"""One child of the stack: its spec, and the running process (own process group, log file)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


@dataclass
class ChildSpec:
    """How to run, check and stop one child.

    `argv=None` marks an external server: never started, only health-checked. Children of
    one `phase` start together; a phase starts once the previous one is healthy.
    """

    name: str
    argv: list[str] | None
    phase: int
    health: Callable[[], bool] | None = None  # None: running is enough (one-shots: exit 0)
    env: Mapping[str, str] = field(default_factory=dict)  # added to the supervisor's environment
    cwd: Path | None = None
    oneshot: bool = False  # runs to completion (exit 0) instead of staying up
    user: str | None = None  # run as this system user (PostgreSQL refuses root)
    stop_signal: int = signal.SIGTERM  # also sent if the supervisor dies (PR_SET_PDEATHSIG)
    stop_timeout: float | None = None  # seconds before SIGKILL; None: the stack's setting
    prepare: Callable[[], None] | None = None  # before every start: init dirs, write config
    ready: Callable[[], None] | None = None  # once healthy: create database, register...
    ports: tuple[int, ...] = ()  # listeners that must be free before it starts
    echo: bool = False  # `make up` copies its log to the terminal
    about: str = ""  # what and where, for messages


def describe_exit(code: int) -> str:
    """`-9` -> `killed by SIGKILL`, `3` -> `exited with code 3`."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name} (exit code {code})"
        except ValueError:
            return f"killed by signal {-code} (exit code {code})"
    return f"exited with code {code}"


class Process:
    """A spawned child: leader of its own process group and session, output to its log file."""

    def __init__(self, spec: ChildSpec, log_path: Path, env: Mapping[str, str]) -> None:
        """Start `spec` now, appending its output to `log_path`."""
        self.spec = spec
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        assert spec.argv is not None, f"{spec.name} is external"
        parent = os.getpid()
        sig = int(spec.stop_signal)

        def die_with_parent() -> None:  # runs in the child between fork and exec
            _libc.prctl(PR_SET_PDEATHSIG, sig)
            if os.getppid() != parent:  # the supervisor died before prctl took effect
                os.kill(os.getpid(), sig)

        with log_path.open("ab") as log:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            log.write(f"\n===== {stamp} stack: starting {spec.name}: {spec.argv}\n".encode())
            log.flush()
            self.log_offset = log.tell()
            self.popen = subprocess.Popen(
                spec.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=spec.cwd,
                env=dict(env),
                start_new_session=True,
                user=spec.user,
                preexec_fn=die_with_parent,
            )
        self.pid = self.popen.pid
        self.stop_sent = False

    def poll(self) -> int | None:
        """The exit code, or None while it runs."""
        return self.popen.poll()

    def signal(self, sig: int) -> None:
        """Send `sig` to the child's whole process group."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, sig)

    def wait(self, timeout: float) -> int | None:
        """Wait up to `timeout` seconds for the exit; the exit code, or None if still running."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def request_stop(self) -> None:
        """Send the stop signal to the group, once (a second SIGTERM makes some servers hurry)."""
        if not self.stop_sent and self.poll() is None:
            self.stop_sent = True
            self.signal(self.spec.stop_signal)
            self.signal(signal.SIGCONT)  # a child paused by a fault test must see it

    def stop(self, timeout: float) -> int:
        """Stop signal to the group, SIGKILL after `timeout`; then kill any leftover of the group."""
        if self.poll() is None:
            self.request_stop()
            if self.wait(timeout) is None:
                self.signal(signal.SIGKILL)
        code = self.popen.wait()
        self.signal(signal.SIGKILL)  # grandchildren that outlived the leader
        return code

    def tail(self, lines: int = 30) -> str:
        """The last lines this run wrote to its log."""
        return tail_file(self.log_path, lines, self.log_offset)


def tail_file(path: Path, lines: int = 30, offset: int = 0) -> str:
    """The last `lines` lines of `path` after byte `offset` ("" if unreadable)."""
    try:
        with path.open("rb") as log:
            size = log.seek(0, os.SEEK_END)
            log.seek(max(offset, size - 64 * 1024))
            text = log.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
