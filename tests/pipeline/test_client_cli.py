"""The `mediagen` client commands against the running stack, through typer's runner.

The runner's stdout is not a terminal, so the commands print JSON, one document per line,
as they do when piped.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

from mediagen.main import app
from tests.pipeline.conftest import wait_for

UNKNOWN = "123e4567-e89b-12d3-a456-426614174000"


@pytest.fixture
def run(stack, settings, monkeypatch):
    """`mediagen ARGS` with the stack's URL and admin key in the environment."""
    monkeypatch.setenv("MEDIAGEN_URL", settings.public_base_url)
    monkeypatch.setenv("MEDIAGEN_API_KEY", stack.api_key)
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args))

    return invoke


def image_of(path: str) -> tuple[str | None, tuple[int, int]]:
    with Image.open(path) as image:
        return image.format, image.size


def documents(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


async def test_generate_prints_the_pending_job_and_status_finds_it(run, api):
    ran = run("generate", "a lighthouse from the cli", "-p", "width=320", "-p", "seed=7")

    assert ran.exit_code == 0, ran.output
    [job] = documents(ran.stdout)
    assert (job["status"], job["prompt"]) == ("pending", "a lighthouse from the cli")
    assert job["parameters"] == {"width": 320, "seed": 7}  # JSON values, not strings
    await wait_for(api, job["id"], {"completed"})
    [shown] = documents(run("status", job["id"]).stdout)
    assert (shown["id"], shown["status"]) == (job["id"], "completed")


async def test_ls_download_and_a_variant(run, api, tmp_path: Path):
    [job] = documents(run("generate", "a kite for the cli", "-p", "output_format=png").stdout)
    await wait_for(api, job["id"], {"completed"})

    listed = documents(run("ls", "--status", "completed", "--limit", "100").stdout)
    saved = documents(run("download", job["id"], "-o", str(tmp_path)).stdout)
    thumb = documents(
        run("download", job["id"], "-o", str(tmp_path), "--variant", "thumbnail").stdout
    )

    assert job["id"] in {item["id"] for item in listed}
    assert {item["status"] for item in listed} == {"completed"}
    [output] = saved
    [variant] = thumb
    assert image_of(output["path"]) == ("PNG", (1024, 1024))
    assert image_of(variant["path"]) == ("WEBP", (256, 256))


async def test_upload_then_cancel_a_slow_job(run, api, tmp_path: Path):
    picture = tmp_path / "square.png"
    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), (10, 200, 30)).save(buffer, "PNG")
    picture.write_bytes(buffer.getvalue())

    [uploaded] = documents(run("upload", str(picture), "--variants", "thumbnail").stdout)
    [slow] = documents(run("generate", "a slow cli fox", "-p", 'fake={"latency": 60}').stdout)
    await wait_for(api, slow["id"], {"processing"})
    [cancelled] = documents(run("cancel", slow["id"]).stdout)

    assert (uploaded["kind"], uploaded["parameters"]["variants"]) == ("process", ["thumbnail"])
    assert cancelled["status"] == "canceled"
    document, _ = await wait_for(api, uploaded["id"], {"completed", "failed"})
    assert [v["name"] for v in document["variants"]] == ["thumbnail"]


def test_errors_are_one_line_and_a_non_zero_exit(run, monkeypatch):
    unknown = run("status", UNKNOWN)
    bad_pair = run("generate", "a fox", "-p", "width")
    not_there = run("upload", "/nonexistent/picture.png")
    monkeypatch.setenv("MEDIAGEN_API_KEY", "mg_000000000000_" + "0" * 48)
    refused = run("ls")

    assert (unknown.exit_code, unknown.stderr.strip()) == (
        1,
        f"mediagen: 404: job {UNKNOWN} not found",
    )
    assert bad_pair.exit_code == 2
    assert "is not key=value" in bad_pair.output
    assert not_there.exit_code == 1
    assert not_there.stderr.startswith("mediagen: cannot read /nonexistent/picture.png")
    assert refused.exit_code == 1
    assert refused.stderr.startswith("mediagen: 401: ")
    for ran in (unknown, not_there, refused):
        assert "Traceback" not in ran.output
        assert len(ran.stderr.strip().splitlines()) == 1
