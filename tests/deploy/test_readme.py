"""README.md stays true: its runnable examples run against the live stack, and it names every
setting and only `make` targets that exist.

Fenced blocks whose info string is `bash runnable` are run in order, as one bash script (later
blocks use variables such as MEDIAGEN_API_KEY and JOB_ID from earlier ones), against the
session's stack: `http://localhost:8000` becomes the stack's API, `127.0.0.1:7233` its Temporal,
and `.venv/bin/temporal` and `.venv/bin/mediagen` the commands beside this interpreter. The script runs in a directory whose
`.data` is the stack's data directory, so the README's `$(cat .data/api-key)` reads the key the
stack made, exactly as it reads the one `make up` made.
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
KEY_FROM_FILE = "MEDIAGEN_API_KEY=$(cat .data/api-key)"
KEY_HEADER = '-H "Authorization: Bearer $MEDIAGEN_API_KEY"'
# Routes that need a key: every /api/v1 route (the provider's webhook has its own signature),
# and the admin-only service routes.
PROTECTED = re.compile(r"http://localhost:8000(/api/v1/|/info\b|/health/detailed\b)")


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
            .replace(".venv/bin/mediagen", str(Path(sys.executable).with_name("mediagen")))
        )
        parts += [f"__line={block.line}", f"echo '>>> README.md line {block.line}'", body]
    return "\n".join(parts) + "\n"


def commands(body: str) -> list[str]:
    """The block's logical lines: a line ending in a backslash goes on with the next."""
    return body.replace("\\\n", " ").splitlines()


def test_the_readme_has_runnable_examples_of_every_endpoint():
    code = "\n".join(block.body for block in RUNNABLE)
    examples = [
        KEY_FROM_FILE,
        KEY_HEADER,
        "-X POST http://localhost:8000/api/v1/generate",
        "Idempotency-Key",
        "/api/v1/status/$JOB_ID",
        "/api/v1/jobs?status=",
        "model_name=",
        "/api/v1/jobs/$JOB_ID/metadata",
        f'-X DELETE {KEY_HEADER} "http://localhost:8000/api/v1/jobs/$SLOW_ID"',
        "/api/v1/download/$JOB_ID",
        ".outputs[0].url",
        "http://localhost:8000/ ",
        "http://localhost:8000/health ",
        "http://localhost:8000/health/detailed",
        "http://localhost:8000/metrics",
        "http://localhost:8000/info",
        "workflow list --query 'JobStatus=\"completed\"'",
        "workflow show -w",
        'Owner="local"',
        # Refusals: no key, an unknown key; a media URL without its signature, or altered.
        "http://localhost:8000/api/v1/jobs | ",
        "Authorization: Bearer mg_000000000000_",
        '"${MEDIA_URL%%\\?*}"',
        '"${MEDIA_URL/sig=/sig=x}"',
    ]

    missing = [example for example in examples if example not in code]

    assert not missing, missing


def test_the_runnable_examples_read_the_key_first_and_send_it():
    first_use = next(
        index for index, block in enumerate(RUNNABLE) if "MEDIAGEN_API_KEY" in block.body
    )
    assert RUNNABLE[first_use].body.strip() == KEY_FROM_FILE, (
        f"the first runnable block that uses the key must set it: {KEY_FROM_FILE}"
    )
    keyless = [
        f"line {block.line}: {command.strip()}"
        for block in RUNNABLE
        for command in commands(block.body)
        if "curl " in command
        and PROTECTED.search(command)
        and KEY_HEADER not in command
        # A request sent without the key on purpose shows that it is refused.
        and "%{http_code}" not in command
        and "-i " not in command
    ]

    assert not keyless, f"runnable requests to protected routes without {KEY_HEADER}: {keyless}"


def test_the_readme_documents_identity():
    code = _code_text()
    for command in (
        "mediagen keys create --name",
        "--owner",
        "--admin",
        "--rate-limit",
        "--max-active",
        "mediagen keys list",
        "mediagen keys revoke",
        'Owner="acme"',
        "RateLimit-Remaining",
        "Retry-After",
        "WWW-Authenticate: Bearer",
    ):
        assert command in code or command in README, command
    # The operator CLI is shown, not run: the test stack mints its own keys.
    assert not any("mediagen keys" in block.body for block in RUNNABLE)
    assert re.search(r"^  API key +mg_", README, re.MULTILINE), "make up's banner prints the key"
    assert ".data/api-key" in README


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
    # The README reads the key from `.data/api-key`, as under `make up`: here `.data` is the
    # test stack's data directory, which holds the key the stack made.
    (tmp_path / ".data").symlink_to(stack.data_dir, target_is_directory=True)
    assert (tmp_path / ".data" / "api-key").read_text().strip() == stack.api_key

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
