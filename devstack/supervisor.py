"""`Stack`: starts the children in order, checks their health, restarts and stops them."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import defaultdict, deque
from collections.abc import Mapping, Sequence
from typing import Self

from devstack.children import ChildSpec, describe_exit
from devstack.control import ControlThread
from devstack.identity import read_api_key
from devstack.runner import Runner, StackAborted, StackError
from devstack.servers import build_specs, child_env
from devstack.settings import StackSettings

__all__ = ["Stack", "StackAborted", "StackError"]

log = logging.getLogger("devstack")
TERMINATING = {signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGKILL}


class Stack(Runner):
    """The supervised children (servers, migration, worker, API) of one data directory.

    Synchronous and thread-safe: every operation runs on the stack's control thread.
    """

    def __init__(
        self,
        settings: StackSettings,
        children: Sequence[str] | None = None,
        *,
        extra_env: Mapping[str, str] | None = None,
        specs: Sequence[ChildSpec] | None = None,
    ) -> None:
        """Children `children` (default all, see `servers.CHILDREN`) or explicit `specs`."""
        logs = settings.data_path / "logs"
        chosen = specs if specs is not None else build_specs(settings, logs, children)
        super().__init__(settings, child_env(settings, extra_env), chosen)
        self._restarts: defaultdict[str, deque[float]] = defaultdict(deque)
        self._control = ControlThread(f"stack-{self.data_dir.name}", self._abort.set)

    # -- queries -------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """The children, in start order."""
        return list(self._specs)

    @property
    def urls(self) -> dict[str, str]:
        """Where each part of the service answers."""
        s = self.settings
        return {
            "api": s.api_url,
            "api_docs": f"{s.api_url}/docs",
            "temporal": s.temporal_address,
            "temporal_ui": s.temporal_ui_url,
            "s3": s.s3_url,
            "database": s.database_url,
            "provider": s.provider_base_url,
            "worker_metrics": f"{s.worker_metrics_url}/metrics",
        }

    @property
    def api_key(self) -> str:
        """The stack's admin API key (made by the migrate child's `ready`)."""
        key = read_api_key(self.data_dir)
        if key is None:
            raise StackError(f"no API key in {self.data_dir}: the stack has not migrated yet")
        return key

    def is_running(self, name: str) -> bool:
        """Whether child `name` runs now."""
        return self.pid(name) is not None

    def pids(self) -> dict[str, int]:
        """The pid of every running child."""
        return {name: pid for name in self._specs if (pid := self.pid(name)) is not None}

    # -- whole stack ---------------------------------------------------------------------

    def start(self) -> None:
        """Start every child in order, each phase once the previous one is healthy.

        On any failure everything started is stopped and `StackError` names the culprit.
        """
        self._control.call(self._start_all)

    def stop(self) -> None:
        """Stop every child, in reverse order (stop signal, SIGKILL after the timeout)."""
        self._control.call(self._stop_all)
        self._control.shutdown()

    def request_stop(self) -> None:
        """Make a running `start`/`supervise` give up soon (safe from a signal handler)."""
        self._abort.set()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- one child -----------------------------------------------------------------------

    def start_child(self, name: str) -> None:
        """Start child `name` (which must not be running) and wait until it is healthy."""
        self._control.call(lambda: self._start_one(self.spec(name)))

    def stop_child(self, name: str) -> int | None:
        """Stop child `name` cleanly; it stays down (no restart). Its exit code, if it ran."""
        return self._control.call(lambda: self._stop_one(self.spec(name).name))

    def restart(self, name: str) -> None:
        """Stop child `name` cleanly, start it again and wait until it is healthy."""
        self.stop_child(name)
        self.start_child(name)

    def kill(self, name: str, sig: int = signal.SIGKILL, *, wait: bool | None = None) -> None:
        """Send `sig` to child `name`'s process group, as a crash or a fault would.

        Waits (up to the stop timeout) for the exit after a terminating signal unless
        `wait=False`. The child stays wanted: `supervise`/`check` will restart it.
        """

        def send() -> None:
            proc = self._procs.get(self.spec(name).name)
            if proc is None or proc.poll() is not None:
                raise StackError(f"{name} is not running")
            log.warning(
                "stack: sending %s to %s (pid %d)", signal.Signals(sig).name, name, proc.pid
            )
            proc.signal(sig)
            if wait if wait is not None else sig in TERMINATING:
                proc.wait(self.stop_timeout(proc.spec))

        self._control.call(send)

    # -- supervision ---------------------------------------------------------------------

    def check(self) -> list[str]:
        """Restart every long-running child that died; the names restarted.

        Raises `StackError` when a child exceeds its restart budget.
        """
        return self._control.call(self._check)

    def supervise(self, until: threading.Event | None = None, interval: float = 0.5) -> None:
        """`check` every `interval` seconds until `until` is set or a stop is requested."""
        while not (until or self._abort).wait(interval):
            if self._abort.is_set():
                return
            self.check()

    def _check(self) -> list[str]:
        restarted: list[str] = []
        for spec in self._specs.values():
            if spec.name not in self._wanted:
                continue
            proc = self._procs.get(spec.name)
            code = proc.poll() if proc is not None else -1
            if code is None:
                continue
            tail = self._tail(spec)
            if proc is not None:
                log.error(
                    "stack: %s (pid %d) %s; log: %s",
                    spec.name,
                    proc.pid,
                    describe_exit(code),
                    self.log_path(spec.name),
                )
                proc.stop(self.stop_timeout(spec))  # reap; kill leftovers of its group
                del self._procs[spec.name]
            times = self._restarts[spec.name]
            now = time.monotonic()
            while times and now - times[0] > self.settings.restart_window:
                times.popleft()
            if len(times) >= self.settings.restart_limit:
                raise StackError(
                    f"{spec.name} died {len(times) + 1} times within "
                    f"{self.settings.restart_window:g} s (restart limit "
                    f"{self.settings.restart_limit}); giving up{tail}"
                )
            times.append(now)
            log.warning(
                "stack: restarting %s (restart %d of %d allowed within %g s)",
                spec.name,
                len(times),
                self.settings.restart_limit,
                self.settings.restart_window,
            )
            try:
                self._spawn(spec)
                self._await_ready(spec)
            except StackAborted:
                raise
            except StackError as exc:
                log.error("stack: restarting %s failed: %s", spec.name, exc)
                failed = self._procs.pop(spec.name, None)
                if failed is not None:
                    failed.stop(self.stop_timeout(spec))
                self._wanted.add(spec.name)  # still wanted: the next check retries
                continue
            restarted.append(spec.name)
        return restarted
