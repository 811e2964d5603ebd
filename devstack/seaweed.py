"""The embedded S3 store: SeaweedFS `weed mini`, one identity, the media bucket.

`weed mini` binds a fixed port for each of its parts unless told otherwise, so every
listener gets an explicit port from the settings.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import httpx

from devstack.children import ChildSpec
from devstack.health import s3_ready
from devstack.settings import StackSettings

BIN = Path(sys.executable).parent
# `weed mini` 4.48 stops its parts in turn. Once its admin server has started the maintenance
# script (a minute after start; the script hangs in `volume.fix.replication`), the admin's stop
# waits 10 s for it before the filer and the volume server stop cleanly: allow for that
# rather than SIGKILL the store.
STOP_TIMEOUT = 20.0


def volumes_registered(s: StackSettings) -> bool:
    """Whether the master knows every volume on disk: until the volume server's first heartbeat
    after a restart, reading an object fails although the bucket answers."""
    on_disk = len(list((s.data_path / "s3").glob("*.dat")))
    url = f"http://{s.host_of(s.s3_endpoint)}:{s.s3_master_port}/dir/status"
    try:
        topology: dict[str, Any] = httpx.get(url, timeout=2.0).json()["Topology"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return False
    nodes = [
        node
        for center in topology.get("DataCenters") or []
        for rack in center.get("Racks") or []
        for node in rack.get("DataNodes") or []
    ]
    return bool(nodes) and sum(int(node.get("Volumes", 0)) for node in nodes) >= on_disk


def _write_s3_identity(s: StackSettings, path: Path) -> None:
    identity = {
        "name": s.s3_access_key.get_secret_value(),
        "credentials": [
            {
                "accessKey": s.s3_access_key.get_secret_value(),
                "secretKey": s.s3_secret_key.get_secret_value(),
            }
        ],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(json.dumps({"identities": [identity]}, indent=2))


def spec(s: StackSettings) -> ChildSpec:
    """The S3 child (or, when external, just its health check)."""
    if not s.is_embedded("s3"):
        return ChildSpec("s3", None, 0, health=lambda: s3_ready(s), about=f"external S3 {s.s3_url}")
    host, port = s.host_of(s.s3_endpoint), s.port_of(s.s3_endpoint)
    config = s.data_path / "s3-identities.json"
    listeners = {
        "master.port": s.s3_master_port,
        "master.port.grpc": s.s3_master_grpc_port,
        "volume.port": s.s3_volume_port,
        "volume.port.grpc": s.s3_volume_grpc_port,
        "filer.port": s.s3_filer_port,
        "filer.port.grpc": s.s3_filer_grpc_port,
        "s3.port": port,
        "s3.port.grpc": s.s3_grpc_port,
        "admin.port": s.s3_admin_port,
        "admin.port.grpc": s.s3_admin_port + 10000,
    }
    argv = [str(BIN / "weed"), "mini", f"-dir={s.data_path / 's3'}", f"-ip={host}"]
    argv += [f"-ip.bind={host}", f"-bucket={s.s3_bucket}", f"-s3.config={config}"]
    argv += ["-master.telemetry=false", "-admin.ui=false", "-webdav=false"]
    argv += ["-s3.port.iceberg=0", "-s3.port.lance=0", "-volume.preStopSeconds=0"]
    argv += [f"-{flag}={value}" for flag, value in listeners.items()]

    def prepare() -> None:
        (s.data_path / "s3").mkdir(parents=True, exist_ok=True)
        _write_s3_identity(s, config)

    return ChildSpec(
        "s3",
        argv,
        0,
        health=lambda: s3_ready(s) and volumes_registered(s),
        prepare=prepare,
        stop_timeout=max(s.stop_timeout, STOP_TIMEOUT),
        ports=tuple(listeners.values()),
        about=f"S3 (SeaweedFS) on {s.s3_url}, bucket {s.s3_bucket}",
    )
