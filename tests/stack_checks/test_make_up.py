"""`make up` makes an API key on its first start, prints it, and keeps it across restarts."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import httpx

from core.api_keys import bearer
from devstack.identity import API_KEY_FILE
from devstack.isolated import isolated_settings
from tests.stack_checks.support import running_up

KEY_LINE = re.compile(r"API key\s+(mg_[0-9a-f]{12}_[0-9a-f]{48})\s+\(in (.+)\)")


def _up_once(settings, log: Path) -> str:
    """Start the whole service as `make up` does; the key it prints, checked; then stop it."""
    with running_up(settings, log) as (up, printed):
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
        up.send_signal(signal.SIGINT)
        assert up.wait(90) == 0, printed()
    return key


def test_make_up_prints_a_working_key_and_keeps_it(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path / "data")
    first = _up_once(settings, tmp_path / "first.log")
    again = _up_once(settings, tmp_path / "again.log")
    assert again == first
