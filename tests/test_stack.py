"""The dev/test stack: isolation, health, registration, identity, supervision, persistence.

Read-only checks use the session `stack`; tests that kill, stop or restart use stacks of
their own (servers only, or trivial children), so they never disturb the session stack.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped,unused-ignore]
import httpx
import psutil  # type: ignore[import-untyped,unused-ignore]
import pytest
from dotenv import dotenv_values
from miniopy_async.api import Minio
from miniopy_async.error import S3Error
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from core.config import get_settings
from core.search_attributes import REGISTERED
from tests.stack import ChildSpec, Stack, StackError, StackSettings
from tests.stack.health import asyncpg_dsn
from tests.stack.ports import free_port
from tests.stack.servers import ROOT, SERVERS
from tests.stack.testing import TEST_ENV, isolated_settings, listener_ports, settings_env

DEFAULT_PORTS = (5432, 7233, 8000, 8233, 8333)
# Ports the servers would take if not told otherwise (SeaweedFS has many).
FIXED_PORTS = {5432, 7233, 8233, 8000, 8100, 9464, 8333, 18333, 9333, 19333, 9340, 19340}
FIXED_PORTS |= {8080, 18080, 8888, 18888, 23646, 33646, 8181, 9101, 6060, 7333}
log = logging.getLogger(__name__)


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    """Poll `condition` until it is true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.2)


def process_tree(pids: Iterator[int] | list[int]) -> list[psutil.Process]:
    """The processes `pids` and all their descendants."""
    procs: list[psutil.Process] = []
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs += [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
    return procs


def alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    """Those of `procs` still running (zombies count as gone)."""
    living = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                living.append(proc)
        except psutil.NoSuchProcess:
            continue
    return living


def mentioning(path: Path) -> list[psutil.Process]:
    """Running processes whose command line mentions `path` (our children all do)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if str(path) in " ".join(proc.info["cmdline"] or []):
            found.append(proc)
    return alive(found)


def s3_client(settings: StackSettings, secret: str | None = None, key: str | None = None) -> Minio:
    return Minio(
        settings.s3_endpoint,
        access_key=key or settings.s3_access_key.get_secret_value(),
        secret_key=secret or settings.s3_secret_key.get_secret_value(),
        secure=False,
        region=settings.s3_region,
    )


async def put_object(settings: StackSettings, name: str, data: bytes) -> None:
    client = s3_client(settings)
    try:
        await client.put_object(settings.s3_bucket, name, io.BytesIO(data), len(data))
    finally:
        await client.close_session()


async def get_object(settings: StackSettings, name: str) -> bytes:
    client = s3_client(settings)
    try:
        response = await client.get_object(settings.s3_bucket, name)
        try:
            return bytes(await response.read())
        finally:
            response.release()
    finally:
        await client.close_session()


async def sql(settings: StackSettings, query: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


def hold_ports(ports: tuple[int, ...]) -> tuple[list[socket.socket], list[int]]:
    """Listen on every port of `ports` we can; the sockets, and the ports someone else holds."""
    held, foreign = [], []
    for port in ports:
        sock = socket.socket()
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
            held.append(sock)
        except OSError:
            sock.close()
            foreign.append(port)
    return held, foreign


# -- the session stack ---------------------------------------------------------------------


def test_every_child_of_the_session_stack_is_healthy(stack: Stack) -> None:
    for name in stack.names:
        spec = stack.spec(name)
        if spec.oneshot:
            assert not stack.is_running(name), f"{name} should have finished"
            continue
        assert stack.is_running(name), f"{name} is not running"
        assert spec.health is not None
        assert spec.health(), f"{name} fails its health check"


def test_the_test_process_sees_the_stack_settings(stack: Stack) -> None:
    settings = get_settings()
    assert settings.database_url == stack.settings.database_url
    assert settings.temporal_address == stack.settings.temporal_address
    assert settings.s3_endpoint == stack.settings.s3_endpoint
    assert settings.api_port == stack.settings.api_port
    assert os.environ["WEBHOOK_BASE_URL"] == stack.settings.api_url
    assert os.environ["FAKE_REPLICATE_LATENCY_MAX"] == TEST_ENV["FAKE_REPLICATE_LATENCY_MAX"]
    used = set(listener_ports(stack.settings).values())
    assert not used & FIXED_PORTS
    assert str(stack.data_dir) != str(Path(".data").resolve())


async def test_postgres_accepts_queries(stack: Stack) -> None:
    rows = await sql(stack.settings, "SELECT current_database() AS db, 6 * 7 AS answer")
    assert (rows[0]["db"], rows[0]["answer"]) == ("mediagen", 42)


async def test_search_attributes_are_registered(stack: Stack) -> None:
    settings = stack.settings
    client = await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=settings.temporal_namespace)
    )
    found = {
        name: IndexedValueType.Name(kind)
        for name, kind in listed.custom_attributes.items()
        if name in REGISTERED
    }
    assert found == {
        name: f"INDEXED_VALUE_TYPE_{kind.upper()}" for name, kind in REGISTERED.items()
    }


async def test_s3_accepts_the_configured_identity_only(stack: Stack) -> None:
    settings = stack.settings
    name = f"stack-test/{uuid.uuid4()}.txt"
    await put_object(settings, name, b"hello")
    assert await get_object(settings, name) == b"hello"
    for key, secret in ((None, "wrong-secret"), ("nobody", "nothing")):
        client = s3_client(settings, secret=secret, key=key)
        try:
            with pytest.raises(S3Error) as failure:
                await client.stat_object(settings.s3_bucket, name)
            assert failure.value.code in {
                "AccessDenied",
                "SignatureDoesNotMatch",
                "InvalidAccessKeyId",
            }
            with pytest.raises(S3Error):
                await client.put_object(settings.s3_bucket, "intruder.txt", io.BytesIO(b"x"), 1)
        finally:
            await client.close_session()
    async with httpx.AsyncClient() as anonymous:
        response = await anonymous.get(f"{settings.s3_url}/{settings.s3_bucket}/{name}")
    assert response.status_code == 403


# -- stacks of our own ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, list[int]]]:
    """A servers-only stack, started while the default ports are taken; with the ports
    someone else already held (the rest we held ourselves during the start)."""
    held, foreign = hold_ports(DEFAULT_PORTS)
    servers = Stack(isolated_settings(tmp_path_factory.mktemp("own")), SERVERS, extra_env=TEST_ENV)
    try:
        try:
            servers.start()
        finally:
            for sock in held:
                sock.close()
        yield servers, foreign
    finally:
        servers.stop()


def listening_ports(stack: Stack) -> dict[str, set[int]]:
    """The TCP ports each child's process tree listens on."""
    ports: dict[str, set[int]] = {}
    for name, pid in stack.pids().items():
        ports[name] = {
            conn.laddr.port
            for proc in process_tree([pid])
            for conn in proc.net_connections(kind="inet")
            if conn.status == psutil.CONN_LISTEN
        }
    return ports


def test_servers_come_up_on_free_ports_while_the_defaults_are_taken(
    own: tuple[Stack, list[int]],
) -> None:
    servers, foreign = own
    log.info("default ports already held by others: %s", foreign)
    configured = listener_ports(servers.settings)
    listening = listening_ports(servers)
    assert set(listening) == set(SERVERS)
    assert configured["postgres"] in listening["postgres"]
    expected_temporal = {configured[k] for k in configured if k.startswith("temporal")}
    assert expected_temporal <= listening["temporal"]
    assert {configured[k] for k in configured if k.startswith("s3")} == listening["s3"]
    assert configured["fake_replicate"] in listening["fake_replicate"]
    everything = set().union(*listening.values())
    assert not everything & FIXED_PORTS, "a server bound one of its fixed default ports"
    low, _high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    unconfigured = everything - set(configured.values())
    assert all(port >= low for port in unconfigured), f"fixed ports {unconfigured}"


def test_killing_a_child_is_reported_and_it_is_restarted(
    own: tuple[Stack, list[int]], caplog: pytest.LogCaptureFixture
) -> None:
    servers, _ = own
    asyncio.run(put_object(servers.settings, "before-crash.txt", b"kept"))
    old = servers.pid("s3")
    assert old is not None
    done = threading.Event()
    failures: list[BaseException] = []

    def watch() -> None:
        try:
            servers.supervise(done, interval=0.2)
        except BaseException as exc:
            failures.append(exc)

    watcher = threading.Thread(target=watch)
    caplog.set_level(logging.INFO, logger="tests.stack")
    watcher.start()
    try:
        servers.kill("s3", signal.SIGKILL)
        wait_for(lambda: "stack: s3 ready" in caplog.text, 90, "s3 to be restarted")
    finally:
        done.set()
        watcher.join()
    assert not failures
    assert f"s3 (pid {old}) killed by SIGKILL" in caplog.text
    assert "restarting s3 (restart 1 of 5" in caplog.text
    new = servers.pid("s3")
    assert new is not None
    assert new != old
    assert not psutil.pid_exists(old) or psutil.Process(old).status() == psutil.STATUS_ZOMBIE
    assert asyncio.run(get_object(servers.settings, "before-crash.txt")) == b"kept"


def test_a_stopped_child_stays_down_until_started(own: tuple[Stack, list[int]]) -> None:
    servers, _ = own
    asyncio.run(sql(servers.settings, "CREATE TABLE IF NOT EXISTS survivors (name text)"))
    assert servers.stop_child("postgres") == 0
    assert not servers.is_running("postgres")
    assert servers.check() == []
    assert not servers.is_running("postgres")
    with pytest.raises(StackError, match="postgres is not running"):
        servers.kill("postgres")
    servers.start_child("postgres")
    assert servers.is_running("postgres")
    with pytest.raises(StackError, match="already running"):
        servers.start_child("postgres")
    rows = asyncio.run(sql(servers.settings, "SELECT count(*) AS n FROM survivors"))
    assert rows[0]["n"] == 0
    servers.restart("temporal")
    assert servers.spec("temporal").health is not None
    assert servers.spec("temporal").health()  # type: ignore[misc]


async def test_children_can_be_controlled_from_a_running_event_loop(
    own: tuple[Stack, list[int]],
) -> None:
    servers, _ = own
    old = servers.pid("fake_replicate")
    servers.restart("fake_replicate")  # health probes run asyncio.run: not on this loop
    second = servers.pid("fake_replicate")
    assert second not in (None, old)
    await asyncio.to_thread(servers.kill, "fake_replicate", signal.SIGKILL)
    assert not servers.is_running("fake_replicate")
    await asyncio.to_thread(servers.start_child, "fake_replicate")
    assert servers.pid("fake_replicate") not in (None, second)
    async with httpx.AsyncClient() as client:
        url = f"http://127.0.0.1:{servers.settings.fake_replicate_port}/health"
        assert (await client.get(url)).status_code == 200


def test_stop_leaves_no_process(own: tuple[Stack, list[int]]) -> None:
    servers, _ = own
    tree = process_tree(list(servers.pids().values()))
    assert len(tree) > len(SERVERS)  # postgres has helpers
    servers.stop()
    try:
        assert alive(tree) == []
        assert mentioning(servers.data_dir) == []
        assert servers.pids() == {}
        ports = set(listener_ports(servers.settings).values())
        listening = {
            conn.laddr.port
            for conn in psutil.net_connections(kind="inet")
            if conn.status == psutil.CONN_LISTEN
        }
        assert not ports & listening, "ports still listened on after stop"
    finally:
        servers.start()


def test_a_second_start_keeps_the_data(own: tuple[Stack, list[int]]) -> None:
    servers, _ = own
    settings = servers.settings
    asyncio.run(sql(settings, "CREATE TABLE IF NOT EXISTS kept (value text)"))
    asyncio.run(sql(settings, "INSERT INTO kept VALUES ($1)", "row-1"))
    asyncio.run(put_object(settings, "kept/object.bin", b"\x00object\xff"))
    servers.stop()
    again = Stack(settings, SERVERS, extra_env=TEST_ENV)
    begun = time.monotonic()
    again.start()
    try:
        log.info("second start took %.1f s", time.monotonic() - begun)
        rows = asyncio.run(sql(settings, "SELECT value FROM kept"))
        assert [row["value"] for row in rows] == ["row-1"]
        assert asyncio.run(get_object(settings, "kept/object.bin")) == b"\x00object\xff"
        with pytest.raises(StackError, match="already runs on"):
            servers.start()  # one stack per data directory
    finally:
        again.stop()
        servers.start()


def test_external_servers_are_only_checked(own: tuple[Stack, list[int]], tmp_path: Path) -> None:
    servers, _ = own
    update = {"data_dir": tmp_path, "embedded": []}
    external = Stack(servers.settings.model_copy(update=update), SERVERS)
    assert [external.spec(name).argv for name in SERVERS] == [None] * len(SERVERS)
    external.start()
    try:
        assert external.pids() == {}
        assert set(servers.pids()) == set(SERVERS)
    finally:
        external.stop()
    assert set(servers.pids()) == set(SERVERS)
    down = servers.settings.model_copy(
        update={
            "data_dir": tmp_path,
            "embedded": [],
            "health_timeout": 1.0,
            "database_url": f"postgresql+asyncpg://mediagen@127.0.0.1:{free_port()}/mediagen",
        }
    )
    with pytest.raises(StackError, match=r"postgres \(external PostgreSQL on .*\) did not answer"):
        Stack(down, ["postgres"]).start()


def test_env_file_holds_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in StackSettings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    values = dotenv_values(ROOT / ".env")
    for required in (
        "DATABASE_URL",
        "TEMPORAL_ADDRESS",
        "TEMPORAL_UI_URL",
        "S3_ENDPOINT",
        "S3_ACCESS_KEY",
        "S3_SECRET_KEY",
        "FAKE_REPLICATE_PORT",
        "API_PORT",
        "WORKER_METRICS_PORT",
        "DATA_DIR",
        "EMBEDDED",
    ):
        assert required in values
    given: dict[str, Any] = {key.lower(): value for key, value in values.items()}
    from_file = StackSettings(_env_file=None, **given)
    assert from_file.model_dump() == StackSettings(_env_file=None).model_dump()


# -- supervision with trivial children -----------------------------------------------------


def python_child(name: str, code: str, phase: int = 0, **kwargs: Any) -> ChildSpec:
    return ChildSpec(name, [sys.executable, "-c", code], phase, **kwargs)


def test_a_child_that_dies_at_start_is_named_with_its_log(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path)
    code = "import sys; print('boom: no config', flush=True); sys.exit(3)"
    child = python_child("broken", code, health=lambda: False, about="a broken server")
    with pytest.raises(StackError) as failure:
        Stack(settings, specs=[child]).start()
    message = str(failure.value)
    assert message.startswith("broken died before answering its health check: exited with code 3")
    assert "boom: no config" in message
    assert str(tmp_path / "logs" / "broken.log") in message


def test_a_child_that_never_gets_healthy_fails_the_start_and_is_stopped(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path, health_timeout=1.0, stop_timeout=2.0)

    def sleeper(name: str, phase: int, **kwargs: Any) -> ChildSpec:
        code = f"import os, time; open({str(tmp_path / name)!r}, 'w').write(str(os.getpid()))"
        return python_child(name, code + "; time.sleep(300)", phase, **kwargs)

    first = sleeper("first", 0)
    sleepy = sleeper("sleepy", 1, health=lambda: False, about="never ready")
    stack = Stack(settings, specs=[first, sleepy])
    with pytest.raises(
        StackError, match=r"sleepy \(never ready\) did not answer its health check within 1 s"
    ):
        stack.start()
    assert stack.pids() == {}
    for name in ("first", "sleepy"):
        assert not psutil.pid_exists(int((tmp_path / name).read_text()))


def test_a_busy_port_is_named(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        child = python_child("server", "pass", ports=(port,), about="a server")
        with pytest.raises(
            StackError, match=rf"server \(a server\) cannot start: port\(s\) \[{port}\]"
        ):
            Stack(settings, specs=[child]).start()


def test_a_paused_child_still_stops_cleanly(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path, stop_timeout=5.0)
    stack = Stack(settings, specs=[python_child("paused", "import time; time.sleep(300)")])
    stack.start()
    try:
        pid = stack.pid("paused")
        assert pid is not None
        stack.kill("paused", signal.SIGSTOP)
        wait_for(lambda: psutil.Process(pid).status() == psutil.STATUS_STOPPED, 5, "the pause")
        begun = time.monotonic()
        assert stack.stop_child("paused") == -signal.SIGTERM
        assert time.monotonic() - begun < 4
    finally:
        stack.stop()


def test_a_child_dying_too_often_stops_the_supervision(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = isolated_settings(tmp_path, restart_limit=2, restart_window=60.0)
    code = "import sys, time; print('crashing', flush=True); time.sleep(0.3); sys.exit(7)"
    stack = Stack(settings, specs=[python_child("flaky", code)])
    caplog.set_level(logging.INFO, logger="tests.stack")
    stack.start()
    try:
        with pytest.raises(StackError) as failure:
            stack.supervise(interval=0.1)
    finally:
        stack.stop()
    assert str(failure.value).startswith("flaky died 3 times within 60 s (restart limit 2)")
    assert "crashing" in str(failure.value)
    assert caplog.text.count("exited with code 7") == 3
    assert caplog.text.count("restarting flaky") == 2


def test_children_die_with_a_killed_supervisor(tmp_path: Path) -> None:
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from tests.stack import ChildSpec, Stack\n"
        "from tests.stack.testing import isolated_settings\n"
        "child = ChildSpec('orphan', [sys.executable, '-c', 'import time; time.sleep(300)'], 0)\n"
        "stack = Stack(isolated_settings(Path(sys.argv[1])), specs=[child])\n"
        "stack.start()\n"
        "print(stack.pid('orphan'), flush=True)\n"
        "time.sleep(300)\n"
    )
    supervisor = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert supervisor.stdout is not None
        child = psutil.Process(int(supervisor.stdout.readline()))
        assert child.is_running()
        supervisor.kill()
        supervisor.wait(10)
        child.wait(10)  # raises TimeoutExpired if it outlives its supervisor
        assert not alive([child])
    finally:
        supervisor.kill()
        supervisor.wait()
        if supervisor.stdout is not None:
            supervisor.stdout.close()


def test_up_deps_only_runs_until_sigint_and_cleans_up(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path / "data")
    env = {**os.environ, **settings_env(settings), **TEST_ENV, "PYTHONUNBUFFERED": "1"}
    output = tmp_path / "up.log"
    with output.open("w") as out:
        up = subprocess.Popen(
            [sys.executable, "-m", "tests.stack", "up", "--deps-only"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: "servers are up" in output.read_text() or up.poll() is not None, 120, "up")
        text = output.read_text()
        assert up.poll() is None, text
        assert settings.temporal_ui_url in text
        assert settings.s3_url in text
        assert httpx.get(settings.temporal_ui_url).status_code == 200
        assert httpx.get(settings.s3_url).status_code in (200, 403)
        assert mentioning(settings.data_path) != []
        up.send_signal(signal.SIGINT)
        assert up.wait(60) == 0, output.read_text()
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
    text = output.read_text()
    assert "SIGINT received, stopping" in text
    assert "everything stopped" in text
    assert mentioning(settings.data_path) == []
    assert text.index("stopped fake_replicate") < text.index("stopped postgres")
