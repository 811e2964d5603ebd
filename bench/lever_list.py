"""The lever experiments: for each, the setups compared (committed first) and what is measured."""

from __future__ import annotations

from dataclasses import dataclass

from bench.setups import DEFAULT_TASK_QUEUES
from bench.stack import Setup

COMMITTED = Setup("committed")


@dataclass(frozen=True)
class Lever:
    key: str
    title: str
    question: str
    setups: tuple[Setup, ...]
    measures: tuple[str, ...]
    rounds: int = 2


LEVERS: tuple[Lever, ...] = (
    Lever(
        "fast-queues",
        "Dev server: how often its task queues read new tasks",
        "Committed: `--dynamic-config-value history.{transfer,timer}ProcessorMaxPollRPS=1000`."
        " Against: the default, 20 reads a second per shard (the dev server has one shard).",
        (COMMITTED, Setup("20 reads/s (default)", drop_temporal_args=DEFAULT_TASK_QUEUES)),
        ("overhead", "saturation"),
    ),
    Lever(
        "sqlite",
        "Dev server: SQLite journal (the bare floor only)",
        "WAL + synchronous=normal (committed) against SQLite's default rollback journal, and"
        " against an in-memory database (no `--db-filename`).",
        (
            COMMITTED,
            Setup(
                "rollback journal",
                drop_temporal_args=(
                    "--sqlite-pragma journal_mode=wal",
                    "--sqlite-pragma synchronous=normal",
                ),
            ),
            Setup("in memory", drop_temporal_args=("--db-filename",)),
        ),
        ("floor",),
    ),
    Lever(
        "wait",
        "Waiting on the provider",
        "Committed: the provider's webhook signals the workflow, which sleeps on a timer"
        " meanwhile and polls only as a safety net: first after 30 s, then every 30 s."
        " Against: no webhooks (polls from 1 s, x1.5, at most 10 s). The rejected ways of"
        " waiting (an early first poll, a retried check, a heartbeating loop) are measured in"
        " docs/BENCHMARKS.md and no longer in the tree.",
        (COMMITTED, Setup("no webhooks", worker_env={"WEBHOOK_BASE_URL": ""})),
        ("sustained", "in_flight"),
        rounds=1,
    ),
    Lever(
        "sticky",
        "Worker: how long a workflow task waits for the worker that has the workflow cached",
        "A workflow task goes to the worker that ran the workflow's last task (its sticky"
        " queue); not picked up within the schedule-to-start timeout, it goes to the shared"
        " queue and whichever worker takes it replays the whole history. Committed: 60 s"
        " (`WORKER_STICKY_TIMEOUT_SECONDS`). Against: the SDK's 10 s. 3,000 jobs of 30 s"
        " submitted at once: a backlog like figure 4's, where workflow tasks wait longer"
        " than 10 s.",
        (
            COMMITTED,
            Setup("10 s (SDK default)", worker_env={"WORKER_STICKY_TIMEOUT_SECONDS": "10"}),
        ),
        ("backlog",),
        rounds=1,
    ),
    Lever(
        "worker-loop",
        "Worker event loop: uvloop",
        "Committed: uvloop (`WORKER_EVENT_LOOP=uvloop`). Against: asyncio's own loop. The bare"
        " floor's worker runs on the same loop as the service's.",
        (COMMITTED, Setup("asyncio", worker_env={"WORKER_EVENT_LOOP": "asyncio"})),
        ("overhead", "saturation"),
    ),
    Lever(
        "worker-concurrency",
        "Worker concurrency settings",
        "Committed: 500 activities, 100 workflow tasks. Against: 20 workflow tasks.",
        (
            COMMITTED,
            Setup("20 workflow tasks", worker_env={"WORKER_MAX_CONCURRENT_WORKFLOW_TASKS": "20"}),
        ),
        ("saturation",),
    ),
    Lever(
        "api",
        "API server: event loop, HTTP parser, access log, connection pool",
        "uvicorn's defaults here are uvloop + httptools (uvicorn[standard]); the submit figure"
        " (1) with each changed through uvicorn's and the service's environment variables.",
        (
            COMMITTED,
            Setup("asyncio + h11", api_env={"UVICORN_LOOP": "asyncio", "UVICORN_HTTP": "h11"}),
            Setup("no access log", api_env={"UVICORN_ACCESS_LOG": "false"}),
            Setup("DB pool 40", api_env={"DATABASE_POOL_SIZE": "40"}),
        ),
        ("submit",),
    ),
)
