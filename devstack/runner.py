"""`Runner`: the process work behind `Stack`, always done on the stack's control thread."""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from devstack.children import ChildSpec, Process, describe_exit, tail_file
from devstack.ports import port_is_free
from devstack.settings import StackSettings

log = logging.getLogger("devstack")


class StackError(RuntimeError):
    """A child failed to start, died too often, or was misused; the message names it."""


class StackAborted(StackError):
    """A start or restart was abandoned because a stop was requested."""


def _label(spec: ChildSpec) -> str:
    return f"{spec.name} ({spec.about})" if spec.about else spec.name


class Runner:
    """The children of one data directory: spawn, wait until healthy, stop."""

    def __init__(self, settings: StackSettings, env: dict[str, str], specs: Sequence[ChildSpec]):
        """Run `specs`, each with the supervisor's environment plus `env` plus its own."""
        self.settings = settings
        self.data_dir = settings.data_path
        self.logs_dir = self.data_dir / "logs"
        self.env = env
        self._specs = {spec.name: spec for spec in specs}
        self._procs: dict[str, Process] = {}
        self._wanted: set[str] = set()  # long-running children that should be up
        self._abort = threading.Event()
        self._lock_file: IO[bytes] | None = None

    def spec(self, name: str) -> ChildSpec:
        """The spec of child `name`."""
        try:
            return self._specs[name]
        except KeyError:
            raise StackError(f"no child {name!r}; children: {list(self._specs)}") from None

    def pid(self, name: str) -> int | None:
        """The pid of child `name` while it runs."""
        proc = self._procs.get(name)
        return proc.pid if proc is not None and proc.poll() is None else None

    def stop_timeout(self, spec: ChildSpec) -> float:
        """Seconds child `spec` gets between its stop signal and SIGKILL."""
        return self.settings.stop_timeout if spec.stop_timeout is None else spec.stop_timeout

    def log_path(self, name: str) -> Path:
        """Where child `name` writes its output."""
        return self.logs_dir / f"{self.spec(name).name}.log"

    def _start_all(self) -> None:
        self._lock_data_dir()
        try:
            for phase in sorted({spec.phase for spec in self._specs.values()}):
                group = [spec for spec in self._specs.values() if spec.phase == phase]
                for spec in group:
                    self._spawn(spec)
                for spec in group:
                    self._await_ready(spec)
        except BaseException:
            self._stop_all()
            raise

    def _stop_all(self) -> None:
        """Phase by phase, last first; the children of one phase stop together."""
        for phase in sorted({spec.phase for spec in self._specs.values()}, reverse=True):
            names = [n for n in reversed(self._specs) if self._specs[n].phase == phase]
            for name in names:
                if (proc := self._procs.get(name)) is not None:
                    proc.request_stop()
            for name in names:
                self._stop_one(name)
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None
        self._abort.clear()

    def _lock_data_dir(self) -> None:
        if self._lock_file is not None:
            raise StackError(f"the stack on {self.data_dir} is already started")
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        lock_file = (self.data_dir / ".stack.lock").open("ab")
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.close()
            raise StackError(f"another stack already runs on {self.data_dir}") from None
        self._lock_file = lock_file

    def _spawn(self, spec: ChildSpec) -> None:
        if spec.argv is None:
            return
        busy = [port for port in spec.ports if not port_is_free(port)]
        if busy:
            raise StackError(
                f"{_label(spec)} cannot start: port(s) {busy} already in use; "
                "stop what listens there or configure other ports (see .env)"
            )
        self._wanted.add(spec.name)
        try:
            if spec.prepare is not None:
                spec.prepare()
        except Exception as exc:
            self._wanted.discard(spec.name)
            raise StackError(f"{spec.name}: preparing failed: {exc}{self._tail(spec)}") from exc
        proc = Process(spec, self.log_path(spec.name), {**os.environ, **self.env, **spec.env})
        self._procs[spec.name] = proc
        log.info("stack: started %s (pid %d): %s", spec.name, proc.pid, spec.about)

    def _await_ready(self, spec: ChildSpec) -> None:
        begun = time.monotonic()
        s = self.settings
        timeout = s.migrate_timeout if spec.oneshot else s.health_timeout
        proc = self._procs.get(spec.name)
        while True:
            if self._abort.is_set():
                raise StackAborted(f"stop requested while {spec.name} was starting")
            code = proc.poll() if proc is not None else None
            if spec.oneshot and code == 0:
                self._wanted.discard(spec.name)
                break
            if code is not None:
                what = "failed" if spec.oneshot else "died before answering its health check"
                raise StackError(f"{spec.name} {what}: {describe_exit(code)}{self._tail(spec)}")
            if not spec.oneshot and (spec.health is None or spec.health()):
                break
            if time.monotonic() - begun > timeout:
                what = "finish" if spec.oneshot else "answer its health check"
                raise StackError(
                    f"{_label(spec)} did not {what} within {timeout:g} s{self._tail(spec)}"
                )
            time.sleep(0.2)
        if spec.ready is not None:
            try:
                spec.ready()
            except Exception as exc:
                raise StackError(f"{spec.name}: setup failed: {exc!r}{self._tail(spec)}") from exc
        log.info("stack: %s ready in %.1f s", spec.name, time.monotonic() - begun)

    def _start_one(self, spec: ChildSpec) -> None:
        if self.pid(spec.name) is not None:
            raise StackError(f"{spec.name} is already running (pid {self.pid(spec.name)})")
        if (old := self._procs.pop(spec.name, None)) is not None:
            old.stop(self.stop_timeout(spec))  # reap it and whatever is left of its group
        self._spawn(spec)
        try:
            self._await_ready(spec)
        except BaseException:
            self._stop_one(spec.name)
            raise

    def _stop_one(self, name: str) -> int | None:
        self._wanted.discard(name)
        proc = self._procs.pop(name, None)
        if proc is None:
            return None
        running = proc.poll() is None or proc.stop_sent
        timeout = self.stop_timeout(proc.spec)
        if running and timeout > 3:
            proc.request_stop()
            if proc.wait(3) is None:
                log.info("stack: waiting for %s to stop (SIGKILL in %g s)", name, timeout - 3)
            timeout -= 3
        code = proc.stop(timeout)
        if running:
            clean = code in (0, -proc.spec.stop_signal)
            log.info("stack: stopped %s%s", name, "" if clean else f" ({describe_exit(code)})")
        return code

    def _tail(self, spec: ChildSpec) -> str:
        proc = self._procs.get(spec.name)
        text = proc.tail() if proc is not None else tail_file(self.log_path(spec.name))
        if not text:
            return ""
        return f"\n--- last lines of {self.log_path(spec.name)} ---\n{text}"
