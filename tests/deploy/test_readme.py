"""README.md stays true: its runnable examples run against the live stack, and it names every
setting and only `make` targets that exist.

Fenced blocks whose info string is `bash runnable` are run in order, as one bash script (later
blocks use variables such as JOB_ID from earlier ones), against the session's stack:
`http://localhost:8000` becomes the stack's API, `127.0.0.1:7233` its Temporal, and
`.venv/bin/temporal` the CLI beside this interpreter.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.config import Settings, get_settings
from devstack.settings import StackSettings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
MAKEFILE = (ROOT / "Makefile").read_text()
OPENING = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,})(?P<info>[^`]*)$")


@dataclass(frozen=True)
class Block:
    info: str
    body: str
    line: int

    @property
    def runnable(self) -> bool:
        words = self.info.split()
        return bool(words) and words[0] in ("bash", "sh", "shell") and "runnable" in words[1:]


def fenced_blocks(text: str) -> list[Block]:
    """Every fenced code block of a Markdown text, with the line its fence opens on."""
    blocks: list[Block] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = OPENING.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        body: list[str] = []
        index += 1
        while index < len(lines) and lines[index].strip() != fence:
            body.append(lines[index][indent:] if lines[index][:indent].isspace() else lines[index])
            index += 1
        blocks.append(Block(opening["info"].strip(), "\n".join(body) + "\n", index - len(body)))
        index += 1
    return blocks


BLOCKS = fenced_blocks(README)
RUNNABLE = [block for block in BLOCKS if block.runnable]


def _code_text() -> str:
    """The README's code: fenced blocks and inline code spans."""
    prose = README
    for block in BLOCKS:
        prose = prose.replace(block.body, "")
    spans = re.findall(r"`([^`\n]+)`", prose)
    return "\n".join([block.body for block in BLOCKS] + spans)


def script(blocks: list[Block], *, api_url: str, temporal_address: str, temporal_cli: str) -> str:
    """One bash script of the blocks, pointed at a stack, saying which block failed."""
    parts = [
        "set -euo pipefail",
        "trap 'echo \"README.md runnable block at line $__line failed\" >&2' ERR",
    ]
    for block in blocks:
        body = (
            block.body.replace("http://localhost:8000", api_url.rstrip("/"))
            .replace("127.0.0.1:7233", temporal_address)
            .replace(".venv/bin/temporal", temporal_cli)
        )
        parts += [f"__line={block.line}", f"echo '>>> README.md line {block.line}'", body]
    return "\n".join(parts) + "\n"


def test_the_readme_has_runnable_examples_of_every_endpoint():
    code = "\n".join(block.body for block in RUNNABLE)
    examples = [
        "-X POST http://localhost:8000/api/v1/generate",
        "Idempotency-Key",
        "/api/v1/status/$JOB_ID",
        "/api/v1/jobs?status=",
        "model_name=",
        "/api/v1/jobs/$JOB_ID/metadata",
        '-X DELETE "http://localhost:8000/api/v1/jobs/$SLOW_ID"',
        "/api/v1/download/$JOB_ID",
        ".outputs[0].url",
        "http://localhost:8000/ ",
        "http://localhost:8000/health ",
        "http://localhost:8000/health/detailed",
        "http://localhost:8000/metrics",
        "http://localhost:8000/info",
        "workflow list --query 'JobStatus=\"completed\"'",
        "workflow show -w",
    ]

    missing = [example for example in examples if example not in code]

    assert not missing, missing


@pytest.mark.stack
def test_every_runnable_block_runs_against_the_live_stack(stack, tmp_path: Path):
    for tool in ("bash", "curl", "jq"):
        if shutil.which(tool) is None:
            pytest.fail(f"the README's examples need {tool}")
    settings = get_settings()
    text = script(
        RUNNABLE,
        api_url=settings.public_base_url,
        temporal_address=settings.temporal_address,
        temporal_cli=str(Path(sys.executable).parent / "temporal"),
    )
    (tmp_path / "readme.sh").write_text(text)

    result = subprocess.run(
        ["bash", str(tmp_path / "readme.sh")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert result.returncode == 0, (
        f"exit {result.returncode}\n--- stdout (end)\n{result.stdout[-4000:]}"
        f"\n--- stderr (end)\n{result.stderr[-4000:]}"
    )


@pytest.mark.parametrize("settings_class", [Settings, StackSettings])
def test_the_readme_names_every_setting(settings_class: type[Settings]):
    missing = [
        name.upper() for name in settings_class.model_fields if f"`{name.upper()}`" not in README
    ]

    assert not missing, f"settings the README's configuration tables lack: {missing}"


def test_every_make_target_the_readme_mentions_exists():
    targets = set(re.findall(r"^([A-Za-z0-9][\w-]*)\s*:(?!=)", MAKEFILE, re.MULTILINE))
    mentioned = set(re.findall(r"(?:^|[\s`;&|(])make ([a-z][\w-]*)", _code_text(), re.MULTILINE))

    assert mentioned, "the README mentions no make target"
    assert mentioned <= targets, f"not in the Makefile: {sorted(mentioned - targets)}"
