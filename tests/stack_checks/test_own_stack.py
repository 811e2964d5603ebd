"""Stacks of their own (servers only): free ports, restarts, stop, persistence, external servers.

They kill, stop and restart, so they never use the session stack.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped,unused-ignore]
import pytest

from devstack import Stack, StackError
from devstack.isolated import TEST_ENV, isolated_settings, listener_ports
from devstack.ports import free_port
from devstack.servers import SERVERS
from tests.stack_checks.support import (
    DEFAULT_PORTS,
    FIXED_PORTS,
    alive,
    get_object,
    hold_ports,
    mentioning,
    process_tree,
    put_object,
    sql,
    wait_for,
)

log = logging.getLogger(__name__)


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
    caplog.set_level(logging.INFO, logger="devstack")
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
