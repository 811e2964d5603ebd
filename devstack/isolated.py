"""Isolated stacks for tests: every listener on a free port, state in a scratch directory."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, SecretStr

from core.config import get_settings
from devstack.ports import free_port
from devstack.settings import StackSettings

if TYPE_CHECKING:
    from devstack import Stack

# What the test stack's children get on top of their settings: a fast fake provider.
TEST_ENV: dict[str, str] = {
    "FAKE_REPLICATE_LATENCY_MIN": "0.05",
    "FAKE_REPLICATE_LATENCY_MAX": "0.2",
    "FAKE_REPLICATE_WEBHOOK_BACKOFF_SECONDS": "0.1",
}


def isolated_settings(data_dir: Path, **overrides: Any) -> StackSettings:
    """Settings of a stack in `data_dir` whose every listener (servers, their internal ports,
    worker metrics, API) is on a port that is free now; `overrides` win over all of them.
    """
    api_port = free_port()
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "embedded": ["postgres", "temporal", "s3", "fake_replicate"],
        "database_url": f"postgresql+asyncpg://mediagen@127.0.0.1:{free_port()}/mediagen",
        "temporal_address": f"127.0.0.1:{free_port()}",
        "temporal_ui_url": f"http://127.0.0.1:{free_port()}",
        "temporal_http_port": free_port(),
        "temporal_metrics_port": free_port(),
        "s3_endpoint": f"127.0.0.1:{free_port()}",
        # A secret of its own, so a test can tell it from any string a client happens to send.
        "s3_secret_key": secrets.token_hex(16),
        "s3_master_port": free_port(),
        "s3_master_grpc_port": free_port(),
        "s3_volume_port": free_port(),
        "s3_volume_grpc_port": free_port(),
        "s3_filer_port": free_port(),
        "s3_filer_grpc_port": free_port(),
        "s3_grpc_port": free_port(),
        "s3_admin_port": free_port(pair_offset=10000),
        "fake_replicate_port": free_port(),
        "replicate_api_token": "",
        "replicate_base_url": "",
        "webhook_base_url": "",
        "api_host": "127.0.0.1",
        "api_port": api_port,
        "public_base_url": f"http://127.0.0.1:{api_port}",
        "worker_metrics_port": free_port(),
        # Tests submit hundreds of jobs at once with the stack's key; the quota tests mint
        # keys of their own with small limits.
        "submit_rate_limit_per_minute": 1_000_000,
        "max_active_jobs_per_owner": 100_000,
        # A short drain keeps test stacks quick to stop; tests of the drain stay within it.
        "worker_graceful_shutdown_seconds": 15.0,
        "health_timeout": 90.0,
        "stop_timeout": 10.0,
    }
    values.update(overrides)
    return StackSettings(**values)


def listener_ports(settings: StackSettings) -> dict[str, int]:
    """Every port the stack's own servers are told to listen on, by a descriptive name."""
    s = settings
    return {
        "postgres": s.port_of(s.database_url),
        "temporal": s.port_of(s.temporal_address),
        "temporal_ui": s.port_of(s.temporal_ui_url),
        "temporal_http": s.temporal_http_port,
        "temporal_metrics": s.temporal_metrics_port,
        "s3": s.port_of(s.s3_endpoint),
        "s3_grpc": s.s3_grpc_port,
        "s3_master": s.s3_master_port,
        "s3_master_grpc": s.s3_master_grpc_port,
        "s3_volume": s.s3_volume_port,
        "s3_volume_grpc": s.s3_volume_grpc_port,
        "s3_filer": s.s3_filer_port,
        "s3_filer_grpc": s.s3_filer_grpc_port,
        "s3_admin": s.s3_admin_port,
        "s3_admin_grpc": s.s3_admin_port + 10000,
        "fake_replicate": s.fake_replicate_port,
        "worker_metrics": s.worker_metrics_port,
        "api": s.api_port,
    }


def settings_env(settings: StackSettings) -> dict[str, str]:
    """Every field of `settings` as the environment variable that sets it (for a subprocess)."""
    env: dict[str, str] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, list) and value and isinstance(value[0], BaseModel):
            value = json.dumps([item.model_dump(mode="json") for item in value])
        elif isinstance(value, list):
            value = ",".join(str(item) for item in value)
        elif isinstance(value, bool):
            value = str(value).lower()
        env[name.upper()] = str(value)
    return env


@contextmanager
def running(stack: Stack) -> Iterator[Stack]:
    """Start `stack` and point this process's settings (and its children's) at it; on exit
    stop it and put the environment back as it was.
    """
    saved = dict(os.environ)
    try:
        stack.start()
        os.environ.update(stack.env)
        get_settings.cache_clear()
        yield stack
    finally:
        try:
            stack.stop()
        finally:
            os.environ.clear()
            os.environ.update(saved)
            get_settings.cache_clear()
