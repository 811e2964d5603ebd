"""`make up` makes an API key on its first start, prints it, and keeps it across restarts; it
copies the API's log lines to the terminal only when asked to (`FOLLOW=1`: `--follow`)."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import httpx

from core.api_keys import bearer
from devstack.identity import API_KEY_FILE
from devstack.isolated import isolated_settings
from tests.stack_checks.support import running_up, wait_for

KEY_LINE = re.compile(r"API key\s+(mg_[0-9a-f]{12}_[0-9a-f]{48})\s+\(in (.+)\)")


def _up_once(settings, log: Path, *args: str) -> tuple[str, str]:
    """Start the whole service as `make up` does; the key it prints, checked, and all it
    printed once a request has been answered and logged; then stop it."""
    with running_up(settings, log, *args) as (up, printed):
        match = KEY_LINE.search(printed())
        assert match is not None, printed()
        key, where = match.groups()
        assert Path(where) == settings.data_path / API_KEY_FILE
        assert (settings.data_path / API_KEY_FILE).read_text().strip() == key
        assert (settings.data_path / API_KEY_FILE).stat().st_mode & 0o077 == 0
        with httpx.Client(base_url=settings.api_url, timeout=10) as api:
            assert api.get("/api/v1/jobs", headers=bearer(key)).status_code == 200
            assert api.get("/info", headers=bearer(key)).status_code == 200  # an admin key
            assert api.get("/api/v1/jobs").status_code == 401
        logged = settings.data_path / "logs" / "api.log"
        wait_for(lambda: "GET /api/v1/jobs" in logged.read_text(), 10, "the API's access log")
        time.sleep(1)  # the echo, when on, follows the log files a few times a second
        shown = printed()
        up.send_signal(signal.SIGINT)
        assert up.wait(90) == 0, printed()
    return key, shown


def test_make_up_prints_a_working_key_and_keeps_it(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path / "data")
    first, quiet = _up_once(settings, tmp_path / "first.log")
    again, followed = _up_once(settings, tmp_path / "again.log", "--follow")
    assert again == first
    # The access log reaches the terminal only when followed.
    assert "GET /api/v1/jobs" not in quiet
    assert "make up FOLLOW=1" in quiet
    assert re.search(r"^api +\| .*GET /api/v1/jobs", followed, re.MULTILINE), followed
