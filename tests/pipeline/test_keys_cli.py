"""`mediagen keys ...` as operators run it: a subprocess on the stack's database, its keys
then used against the running API."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from core.api_keys import bearer
from tests.pipeline.conftest import submit

TOKEN = re.compile(r"mg_([0-9a-f]{12})_([0-9a-f]{48})")
WHEN = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d")


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str


async def cli(*args: str, env: dict[str, str] | None = None) -> Ran:
    """`python -m mediagen ARGS` with this process's environment (the stack's settings while
    the stack runs), its output piped as an operator's `| grep` would."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mediagen",
        *args,
        env={name: value for name, value in (env or os.environ).items() if name != "COLUMNS"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return Ran(process.returncode, stdout.decode(), stderr.decode())


async def create(*args: str) -> tuple[str, str, Ran]:
    """Make a key; its public id, the whole key, and the run (asserted successful)."""
    ran = await cli("keys", "create", *args)
    assert ran.code == 0, ran.stderr
    match = TOKEN.fullmatch(ran.stdout.splitlines()[-1])
    assert match, f"the last line is not a key alone: {ran.stdout!r}"
    return match.group(1), match.group(0), ran


def row(listing: str, key_id: str) -> list[str]:
    """The cells of the table row that names `key_id` (cells are 2+ spaces apart)."""
    for line in listing.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if cells[0] == key_id:
            return cells
    raise AssertionError(f"no row for {key_id} in:\n{listing}")


@pytest.fixture
async def client(settings) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the API without a key of its own."""
    async with httpx.AsyncClient(base_url=settings.public_base_url, timeout=30) as http:
        yield http


@pytest.fixture
def unreachable_env() -> dict[str, str]:
    """The environment with DATABASE_URL on a port that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql+asyncpg://mediagen:hunter2@127.0.0.1:{port}/mediagen"
    return {**os.environ, "DATABASE_URL": url}


async def test_create_prints_a_key_that_sees_only_its_owners_jobs(api, client):
    owner = f"team-{uuid.uuid4().hex[:8]}"
    key_id, token, ran = await create(
        "--name", "ci", "--owner", owner, "--rate-limit", "100", "--max-active", "5"
    )
    assert ran.stdout.count(token) == 1
    assert key_id in ran.stdout.splitlines()[0]
    assert owner in ran.stdout

    others = await submit(api, "a job of the stack's admin")
    client.headers.update(bearer(token))
    mine = await submit(client, "a job of the new key's owner")
    listing = await client.get("/api/v1/jobs")
    assert listing.status_code == 200
    assert [job["id"] for job in listing.json()["items"]] == [mine["id"]]
    assert listing.json()["total"] == 1
    assert (await client.get(f"/api/v1/status/{others['id']}")).status_code == 404


async def test_admin_key_sees_every_owners_jobs(api, client):
    _, token, ran = await create("--name", f"ops-{uuid.uuid4().hex[:8]}", "--admin")
    assert "admin" in ran.stdout.splitlines()[0]
    theirs = await submit(api, "a job the admin key did not submit")
    client.headers.update(bearer(token))
    listing = await client.get("/api/v1/jobs", params={"limit": 100})
    assert listing.status_code == 200
    assert theirs["id"] in [job["id"] for job in listing.json()["items"]]


async def test_list_shows_keys_and_no_secret(stack):
    name = f"listed-{uuid.uuid4().hex[:8]}"
    key_id, token, _ = await create("--name", name, "--max-active", "3")

    listing = await cli("keys", "list")

    assert listing.code == 0, listing.stderr
    cells = row(listing.stdout, key_id)
    # ID, name, owner (defaults to the name), admin, rate, max active, created, last used, revoked
    assert cells[1:6] == [name, name, "no", "-", "3"]
    assert WHEN.fullmatch(cells[6])
    assert cells[7:] == ["never", "-"]
    assert token not in listing.stdout
    assert token.rsplit("_", 1)[1] not in listing.stdout
    assert "mg_" not in listing.stdout


async def test_revoked_key_is_refused_within_a_second(client):
    key_id, token, _ = await create("--name", f"revoked-{uuid.uuid4().hex[:8]}")
    client.headers.update(bearer(token))
    assert (await client.get("/api/v1/jobs")).status_code == 200

    revoked = await cli("keys", "revoke", key_id)
    assert revoked.code == 0, revoked.stderr
    assert key_id in revoked.stdout
    deadline = time.monotonic() + 1.5
    while (status := (await client.get("/api/v1/jobs")).status_code) != 401:
        assert status == 200
        assert time.monotonic() < deadline, "the revoked key is still accepted after 1.5 s"
        await asyncio.sleep(0.05)

    again = await cli("keys", "revoke", key_id)
    assert again.code == 0, again.stderr
    assert "already revoked" in again.stdout
    cells = row((await cli("keys", "list")).stdout, key_id)
    assert WHEN.fullmatch(cells[8])


async def test_revoking_an_unknown_id_fails(stack):
    ran = await cli("keys", "revoke", "000000000000")
    assert ran.code == 1
    assert "000000000000" in ran.stderr
    assert "Traceback" not in ran.stderr
    assert ran.stdout == ""


@pytest.mark.parametrize(
    ("args", "option"),
    [
        ([], "--name"),
        (["--name", ""], "--name"),
        (["--name", "   "], "--name"),
        (["--name", "x" * 101], "--name"),
        (["--name", "ok", "--owner", ""], "--owner"),
        (["--name", "ok", "--owner", "y" * 101], "--owner"),
        (["--name", "ok", "--rate-limit", "0"], "--rate-limit"),
        (["--name", "ok", "--rate-limit", "many"], "--rate-limit"),
        (["--name", "ok", "--max-active", "-1"], "--max-active"),
    ],
)
async def test_bad_options_are_usage_errors(unreachable_env, args, option):
    # On an unreachable database: an option let through would fail with 1, not 2.
    ran = await cli("keys", "create", *args, env=unreachable_env)
    assert ran.code == 2, ran.stderr
    assert option in ran.stderr
    assert ran.stdout == ""


@pytest.mark.parametrize("args", [["create", "--name", "x"], ["list"], ["revoke", "abc"]])
async def test_unreachable_database_is_one_line(unreachable_env, args):
    ran = await cli("keys", *args, env=unreachable_env)
    assert ran.code == 1
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1, ran.stderr
    assert "database" in lines[0]
    assert unreachable_env["DATABASE_URL"].rsplit(":", 1)[1].split("/")[0] in lines[0]
    assert "hunter2" not in ran.stderr
    assert ran.stdout == ""
