"""With no provider configured, nothing starts: one line says what to set."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from core.config import MissingProvider, Settings
from devstack.settings import StackSettings

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EACH_PROCESS = pytest.mark.parametrize(
    "argv",
    [
        [sys.executable, "-m", "worker"],
        [sys.executable, "-m", "uvicorn", "--factory", "api.main:create_app", "--port", "0"],
    ],
    ids=["worker", "api"],
)


def test_settings_without_token_or_url_name_both():
    settings = Settings(replicate_api_token="", replicate_base_url="")
    with pytest.raises(MissingProvider, match=r"REPLICATE_API_TOKEN.*REPLICATE_BASE_URL"):
        _ = settings.provider_base_url


def test_the_dev_stack_points_at_its_fake_unless_told_otherwise():
    stack = StackSettings(replicate_api_token="", replicate_base_url="", fake_replicate_port=8123)
    assert stack.provider_base_url == "http://127.0.0.1:8123/v1"
    told = StackSettings(replicate_base_url="http://proxy/v1", fake_replicate_port=8123)
    assert told.provider_base_url == "http://proxy/v1"


def refusal(argv: list[str], env: dict[str, str], cwd) -> str:
    """The one line a process that refuses to start writes (run where no `.env` is read)."""
    env = {**env, "PYTHONPATH": ROOT}
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@EACH_PROCESS
def test_processes_refuse_to_start_without_a_provider(tmp_path, argv):
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPLICATE_")}
    env |= {"MEDIA_SIGNING_SECRETS": "s", "S3_SECRET_KEY": "s"}
    line = refusal(argv, env, tmp_path)
    assert "REPLICATE_API_TOKEN" in line
    assert "REPLICATE_BASE_URL" in line


@EACH_PROCESS
def test_processes_refuse_to_start_without_their_secrets(tmp_path, argv):
    env = {
        k: v for k, v in os.environ.items() if k not in {"MEDIA_SIGNING_SECRETS", "S3_SECRET_KEY"}
    }
    env["REPLICATE_BASE_URL"] = "http://127.0.0.1:1/v1"
    line = refusal(argv, env, tmp_path)
    assert "MEDIA_SIGNING_SECRETS" in line
    assert "S3_SECRET_KEY" in line
    assert "REPLICATE" not in line
