"""The children of the stack, in start order, and the environment they get."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from devstack import postgres, seaweed, temporal
from devstack.children import ChildSpec
from devstack.health import http_ok
from devstack.identity import ensure_api_key, stored_secret
from devstack.settings import StackSettings

ROOT = Path(__file__).resolve().parents[1]
SERVERS: tuple[str, ...] = ("postgres", "temporal", "s3", "fake_replicate")
APP: tuple[str, ...] = ("migrate", "worker", "api")
CHILDREN: tuple[str, ...] = SERVERS + APP
# The fake accepts any bearer token; the service sends one only when it has one.
FAKE_TOKEN = "r8_devstack_fake"


def child_env(settings: StackSettings, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The settings every child (and a test process) needs, as environment variables."""
    webhook = settings.webhook_base_url
    if not webhook and settings.is_embedded("fake_replicate"):
        webhook = settings.api_url  # the fake provider calls our webhook back
    env = {
        "DATABASE_URL": settings.database_url,
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "TEMPORAL_NAMESPACE": settings.temporal_namespace,
        "TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
        "TEMPORAL_UI_URL": settings.temporal_ui_url,
        "S3_ENDPOINT": settings.s3_endpoint,
        "S3_ACCESS_KEY": settings.s3_access_key.get_secret_value(),
        "S3_SECRET_KEY": settings.s3_secret_key.get_secret_value(),
        "S3_BUCKET": settings.s3_bucket,
        "S3_REGION": settings.s3_region,
        "S3_SECURE": str(settings.s3_secure).lower(),
        "FAKE_REPLICATE_PORT": str(settings.fake_replicate_port),
        "REPLICATE_BASE_URL": settings.provider_base_url,
        "WEBHOOK_BASE_URL": webhook,
        "OUTPUT_ALLOWED_HOSTS": f"replicate.delivery,*.replicate.delivery,127.0.0.1:{settings.fake_replicate_port}",
        # The fake's `output_bytes` outputs (faults, benchmarks) are opaque octet-streams.
        "OUTPUT_ALLOWED_TYPES": "image/*,video/*,audio/*,application/octet-stream",
        "API_HOST": settings.api_host,
        "API_PORT": str(settings.api_port),
        "PUBLIC_BASE_URL": settings.public_base_url,
        "SUBMIT_RATE_LIMIT_PER_MINUTE": str(settings.submit_rate_limit_per_minute),
        "MAX_ACTIVE_JOBS_PER_OWNER": str(settings.max_active_jobs_per_owner),
        "MEDIA_URL_TTL_SECONDS": str(settings.media_url_ttl_seconds),
        "MEDIA_SIGNING_SECRETS": ",".join(
            [secret.get_secret_value() for secret in settings.media_signing_secrets]
            or [stored_secret(settings.data_path)]
        ),
        "WORKER_METRICS_HOST": settings.worker_metrics_host,
        "WORKER_METRICS_PORT": str(settings.worker_metrics_port),
        # The stack's own test receivers listen on this machine (the API itself stays refused).
        "WEBHOOK_ALLOWED_HOSTS": ",".join(
            settings.webhook_allowed_hosts or ["localhost", "127.0.0.1", "[::1]"]
        ),
    }
    if settings.is_embedded("fake_replicate"):
        env["REPLICATE_API_TOKEN"] = FAKE_TOKEN
    env.update(extra or {})
    return env


# The API's glibc malloc, for a burst of uploads (figure 9, docs/BENCHMARKS.md): two arenas
# rather than up to 8 per core (its file writes run in asyncio's threads, and memory freed in
# one arena is not reused by another), and blocks of 64 KiB or more (request bodies, write
# batches) mapped and unmapped on their own, so freed ones go back to the system instead of
# staying in the heap. Also set by the Dockerfile's and docker-compose.yml's API command.
API_MALLOC_ENV = {"MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": "65536"}
# An idle keep-alive connection outlives its clients' (httpx keeps one 5 s, load balancers
# 60 s): a server closing it just as a client reuses it drops that request unanswered. Also
# in the Dockerfile's and docker-compose.yml's API command.
API_KEEP_ALIVE = ("--timeout-keep-alive", "75")


def _python(
    name: str, phase: int, module: list[str], env: dict[str, str] | None = None, **kwargs: Any
) -> ChildSpec:
    # PYTHONUNBUFFERED: log lines reach the log file (and `make up`) at once.
    env = {"PYTHONUNBUFFERED": "1", **(env or {})}
    return ChildSpec(name, [sys.executable, "-m", *module], phase, env=env, cwd=ROOT, **kwargs)


def _fake_replicate(s: StackSettings) -> ChildSpec:
    url = f"http://127.0.0.1:{s.fake_replicate_port}"
    if not s.is_embedded("fake_replicate"):  # started by hand: only check it
        health = lambda: http_ok(f"{url}/health")  # noqa: E731
        return ChildSpec("fake_replicate", None, 0, health=health, about=f"external fake {url}")
    return _python(
        "fake_replicate",
        0,
        ["devstack.fake_replicate"],
        health=lambda: http_ok(f"{url}/health"),
        ports=(s.fake_replicate_port,),
        about=f"fake Replicate on {url}",
    )


def build_specs(
    settings: StackSettings, logs: Path, names: Sequence[str] | None = None
) -> list[ChildSpec]:
    """The specs of children `names` (default: all), in start order."""
    s = settings
    wanted = list(CHILDREN if names is None else names)
    unknown = sorted(set(wanted) - set(CHILDREN))
    if unknown:
        raise ValueError(f"unknown children {unknown}; choose among {list(CHILDREN)}")
    specs = {
        "postgres": lambda: postgres.spec(s, logs / "postgres.log"),
        "temporal": lambda: temporal.spec(s),
        "s3": lambda: seaweed.spec(s),
        "fake_replicate": lambda: _fake_replicate(s),
        "migrate": lambda: _python(
            "migrate",
            1,
            ["alembic", "upgrade", "head"],
            oneshot=True,
            # The schema is there: make (or keep) the stack's API key.
            ready=lambda: ensure_api_key(s, s.data_path),
            about="alembic upgrade head",
        ),
        "worker": lambda: _python(
            "worker",
            2,
            ["worker"],
            health=lambda: http_ok(f"{s.worker_metrics_url}/metrics"),
            ports=(s.worker_metrics_port,),
            # SIGTERM drains running activities first (WORKER_GRACEFUL_SHUTDOWN_SECONDS).
            stop_timeout=s.worker_graceful_shutdown_seconds + 5,
            echo=True,
            about=f"worker, metrics on {s.worker_metrics_url}/metrics",
        ),
        "api": lambda: _python(
            "api",
            2,
            [
                "uvicorn",
                "--factory",
                "api.main:create_app",
                "--host",
                s.api_host,
                "--port",
                str(s.api_port),
                *API_KEEP_ALIVE,
            ],
            env=API_MALLOC_ENV,
            health=lambda: http_ok(f"{s.api_url}/health"),
            ports=(s.api_port,),
            echo=True,
            about=f"API on {s.api_url}",
        ),
    }
    chosen = [name for name in CHILDREN if name in wanted]
    if s.replicate_api_token.get_secret_value():  # the real Replicate: no fake at all
        chosen = [name for name in chosen if name != "fake_replicate"]
    return [specs[name]() for name in chosen]
