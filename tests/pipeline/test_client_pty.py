"""`mediagen generate --wait` on a terminal: the console script runs in a pseudo-terminal
against the stack, draws a live progress bar from the job's events stream, and asks on
Ctrl-C whether to cancel the job or leave it running."""

from __future__ import annotations

import fcntl
import os
import re
import select
import shutil
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from core.api_keys import bearer

# Long enough to run past the create's `Prefer: wait` (2 s), a tqdm line every ~0.5 s.
SLOW = 'fake={"latency": 6}'
SLOWER = 'fake={"latency": 40}'
LONGER = 'fake={"latency": 12}'
_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
_PERCENT = re.compile(r"(\d{1,3})%")


class Terminal:
    """A command whose stdin, stdout and stderr are the slave end of a pseudo-terminal,
    which is also its controlling terminal (so Ctrl-C sends it SIGINT)."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        self._master = master
        self._raw = bytearray()
        self.process = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,  # a session of its own, whose terminal is the pty:
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
        os.close(slave)

    @property
    def text(self) -> str:
        """Everything written so far, without the escape sequences that draw it."""
        return _ESCAPES.sub("", self._raw.decode(errors="replace"))

    def _read(self, timeout: float) -> bool:
        """Read what is there within `timeout`; False once the terminal is closed."""
        ready, _, _ = select.select([self._master], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self._master, 65536)
        except OSError:  # EIO: every holder of the slave end is gone
            return False
        self._raw += chunk
        return bool(chunk)

    def expect(self, pattern: str, within: float = 30) -> re.Match[str]:
        """Read until `pattern` shows in the text; fail with the text if it never does."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            found = re.search(pattern, self.text)
            if found:
                return found
            if not self._read(0.1):
                break
        raise AssertionError(f"{pattern!r} never showed; the terminal shows:\n{self.text}")

    def send(self, data: bytes) -> None:
        os.write(self._master, data)

    def wait(self, within: float = 30) -> int:
        """Read to the end of the output; the exit code."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline and self._read(0.1):
            if self.process.poll() is not None and not select.select([self._master], [], [], 0)[0]:
                break
        return self.process.wait(timeout=max(deadline - time.monotonic(), 1))

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self._master)


@pytest.fixture
def terminal(stack, settings) -> Iterator[Any]:
    """Start `mediagen ARGS` in a pseudo-terminal with the stack's URL and admin key."""
    script = shutil.which("mediagen", path=os.path.dirname(sys.executable))
    assert script, "the mediagen console script is not installed in the venv"
    env = {
        **os.environ,
        "MEDIAGEN_URL": settings.public_base_url,
        "MEDIAGEN_API_KEY": stack.api_key,
        "TERM": "xterm-256color",
    }
    for name in ("NO_COLOR", "FORCE_COLOR", "COLUMNS", "LINES", "TTY_COMPATIBLE"):
        env.pop(name, None)
    started: list[Terminal] = []

    def start(*args: str) -> Terminal:
        started.append(Terminal([script, *args], env))
        return started[-1]

    yield start
    for each in started:
        each.close()


@pytest.fixture
def status(stack, settings):
    with httpx.Client(base_url=settings.public_base_url, headers=bearer(stack.api_key)) as client:

        def read(job_id: str) -> dict[str, Any]:
            document: dict[str, Any] = client.get(f"/api/v1/status/{job_id}").json()
            return document

        yield read


def percents(text: str) -> list[int]:
    return [int(value) for value in _PERCENT.findall(text)]


def job_id_of(text: str) -> str:
    found = re.search(r"id\s+([0-9a-f-]{36})", text)
    assert found, text
    return found.group(1)


def test_the_progress_bar_rises_to_completed(terminal, status):
    term = terminal("generate", "a heron on a terminal", "-p", SLOW, "--wait")

    term.expect(r"processing\s+\S*\s+([1-9]\d?)%")
    code = term.wait(within=60)

    text = term.text
    assert code == 0, text
    shown = percents(text)
    rising = [value for value in shown if 0 < value < 100]
    assert len(set(rising)) >= 2, text  # the bar moved while the job ran
    assert rising == sorted(rising), text
    assert re.search(r"completed\s+\S+\s+100%", text), text
    job_id = job_id_of(text)
    assert status(job_id)["status"] == "completed"
    assert "Traceback" not in text


def test_ctrl_c_then_yes_cancels_the_job(terminal, status):
    term = terminal("generate", "a slow heron to cancel", "-p", SLOWER, "--wait")
    term.expect(r"processing\s+\S*\s+([1-9]\d?)%")

    term.send(b"\x03")
    term.expect(r"cancel job ([0-9a-f-]{36})\? \[y/N\]")
    term.send(b"y\r")
    code = term.wait()

    text = term.text
    job_id = re.search(r"cancel job ([0-9a-f-]{36})", text).group(1)  # type: ignore[union-attr]
    assert code == 1, text  # the job ended canceled
    assert status(job_id)["status"] == "canceled"
    assert re.search(r"status\s+canceled", text), text
    assert "Traceback" not in text


def test_ctrl_c_then_no_leaves_the_job_running(terminal, status):
    term = terminal("generate", "a heron left to finish", "-p", LONGER, "--wait")
    term.expect(r"processing\s+\S*\s+([1-9]\d?)%")

    term.send(b"\x03")
    asked = term.expect(r"cancel job ([0-9a-f-]{36})\? \[y/N\]")
    term.send(b"\r")  # the default: leave it running
    code = term.wait()

    job_id = asked.group(1)
    text = term.text
    assert code == 130, text
    assert f"job {job_id} goes on: mediagen watch {job_id}" in text
    assert status(job_id)["status"] == "processing"
    deadline = time.monotonic() + 60
    while status(job_id)["status"] != "completed":
        assert time.monotonic() < deadline, status(job_id)
        time.sleep(0.2)
    assert "Traceback" not in text
