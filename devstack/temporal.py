"""The embedded Temporal dev server (SQLite file, Web UI, the job search attributes)."""

from __future__ import annotations

import sys
from pathlib import Path

from core.search_attributes import REGISTERED
from devstack.children import ChildSpec
from devstack.health import register_search_attributes, temporal_ready
from devstack.settings import StackSettings

BIN = Path(sys.executable).parent
# The dev server has one history shard, whose transfer queue (workflow and activity tasks
# on their way to matching) and timer queue read new tasks at most 20 times a second by
# default: every task then waits ~25 ms for the next read, a floor of ~300 ms for a
# five-activity workflow. docs/BENCHMARKS.md ("fast-queues") measures the difference.
FAST_TASK_QUEUES = (
    "history.transferProcessorMaxPollRPS=1000",
    "history.timerProcessorMaxPollRPS=1000",
)


def spec(s: StackSettings) -> ChildSpec:
    """The Temporal child (or, when external, its health check and registration)."""
    host, port = s.host_of(s.temporal_address), s.port_of(s.temporal_address)
    ui_port = s.port_of(s.temporal_ui_url)
    if not s.is_embedded("temporal"):
        return ChildSpec(
            "temporal",
            None,
            0,
            health=lambda: temporal_ready(s.temporal_address, s.temporal_namespace, None),
            ready=lambda: register_search_attributes(s.temporal_address, s.temporal_namespace),
            about=f"external Temporal at {s.temporal_address}",
        )
    db = s.data_path / "temporal" / "temporal.db"
    argv = [str(BIN / "temporal"), "server", "start-dev", "--ip", host, "--port", str(port)]
    argv += ["--ui-port", str(ui_port), "--db-filename", str(db), "--ui-disable-news-fetch"]
    argv += ["--log-level", "warn"]
    for pragma in ("journal_mode=wal", "synchronous=normal"):
        argv += ["--sqlite-pragma", pragma]
    for value in FAST_TASK_QUEUES:
        argv += ["--dynamic-config-value", value]
    for name, kind in REGISTERED.items():
        argv += ["--search-attribute", f"{name}={kind}"]
    if s.temporal_namespace != "default":
        argv += ["--namespace", s.temporal_namespace]
    extra_ports = (s.temporal_http_port, s.temporal_metrics_port)
    for flag, extra in zip(("--http-port", "--metrics-port"), extra_ports, strict=True):
        argv += [flag, str(extra)] if extra else []
    return ChildSpec(
        "temporal",
        argv,
        0,
        health=lambda: temporal_ready(s.temporal_address, s.temporal_namespace, s.temporal_ui_url),
        prepare=lambda: db.parent.mkdir(parents=True, exist_ok=True),
        ports=(port, ui_port, *(p for p in extra_ports if p)),
        about=f"Temporal on {s.temporal_address}, Web UI {s.temporal_ui_url}",
    )
