"""The thread that does all of a stack's process work.

Children are spawned with PR_SET_PDEATHSIG, which fires when the *thread* that forked them
ends, not the process: spawning from one long-lived thread keeps a child alive exactly as long
as its supervisor. That thread runs no event loop, so health probes may call `asyncio.run`
even when the caller (an async test) runs one. It also serializes the stack's operations.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")
_Job = tuple[Callable[[], Any], "Future[Any]"] | None


class ControlThread:
    """Runs submitted calls one at a time on a single thread, started on first use."""

    def __init__(self, name: str, on_interrupt: Callable[[], None]) -> None:
        """`on_interrupt` runs when a caller stops waiting (e.g. KeyboardInterrupt)."""
        self._name = name
        self._on_interrupt = on_interrupt
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._queue: queue.Queue[_Job] = queue.Queue()

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the control thread and return its result (or raise its exception)."""
        if threading.current_thread() is self._thread:
            return fn()
        future: Future[T] = Future()
        with self._lock:
            if self._thread is None:
                self._queue = queue.Queue()
                self._thread = threading.Thread(
                    target=self._run, args=(self._queue,), name=self._name, daemon=True
                )
                self._thread.start()
            self._queue.put((fn, future))
        try:
            return future.result()
        except BaseException:
            if not future.done():  # interrupted while waiting: make the running call give up
                self._on_interrupt()
            raise

    def shutdown(self) -> None:
        """Let the thread end once its queued calls are done (only when no child is left)."""
        with self._lock:
            if self._thread is not None:
                self._queue.put(None)
                self._thread = None

    @staticmethod
    def _run(jobs: queue.Queue[_Job]) -> None:
        while (job := jobs.get()) is not None:
            fn, future = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)
