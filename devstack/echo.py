"""Copies new lines of some log files to the terminal, each prefixed with its child's name."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import TextIO


class LogEcho:
    """A thread that follows log files (as `tail -F` would) and prints `name | line`."""

    def __init__(self, files: dict[str, Path], out: TextIO = sys.stdout) -> None:
        """Follow `files` (child name -> log path) from their current end."""
        self._files = files
        self._out = out
        self._offsets = {name: _size(path) for name, path in files.items()}
        self._partial: dict[str, bytes] = dict.fromkeys(files, b"")
        self._width = max((len(name) for name in files), default=0)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="log-echo", daemon=True)

    def start(self) -> None:
        """Start following."""
        if self._files:
            self._thread.start()

    def stop(self) -> None:
        """Print what is left and stop following."""
        self._done.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        self._poll()

    def _run(self) -> None:
        while not self._done.wait(0.25):
            self._poll()

    def _poll(self) -> None:
        for name, path in self._files.items():
            size = _size(path)
            if size < self._offsets[name]:  # truncated or replaced
                self._offsets[name] = 0
            if size == self._offsets[name]:
                continue
            with path.open("rb") as log:
                log.seek(self._offsets[name])
                chunk = self._partial[name] + log.read(size - self._offsets[name])
            self._offsets[name] = size
            *lines, self._partial[name] = chunk.split(b"\n")
            for line in lines:
                text = line.decode(errors="replace").rstrip()
                if not text:
                    continue
                self._out.write(f"{name:<{self._width}} | {text}\n")
            self._out.flush()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
