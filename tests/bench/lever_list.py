"""The lever experiments: for each, the setups compared (committed first) and what is measured."""

from __future__ import annotations

from dataclasses import dataclass

from tests.bench.setups import DEFAULT_TASK_QUEUES, WORKER_VARIANT, variant
from tests.bench.stack import Setup

COMMITTED = Setup("committed")


def worker(name: str, **options: object) -> Setup:
    """The committed stack but for a variant worker (see `variant_worker`)."""
    return Setup(name, worker_module=WORKER_VARIANT, worker_env=variant(**options))


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
        " Against: the same loop with its first poll after 1 s (x1.5, at most 30 s), as"
        " before; without webhooks (polls from 1 s, x1.5, at most 10 s); a retried check (an"
        " activity that fails until the prediction is done; Temporal retries it, 1 s x1.5 up"
        " to 10 s); and a heartbeating activity that polls in the worker.",
        (
            COMMITTED,
            worker("first poll after 1 s", workflow="early-poll"),
            Setup("no webhooks", worker_env={"WEBHOOK_BASE_URL": ""}),
            worker("retried check", workflow="retried-check"),
            worker("heartbeating loop", workflow="heartbeat-loop"),
        ),
        ("sustained", "in_flight"),
        rounds=1,
    ),
    Lever(
        "local-steps",
        "The PostgreSQL mirror and the metadata document as local activities",
        "Committed: `mirror_status` and `write_metadata` run with"
        " `execute_local_activity_method`. Against: both as (regular) activities.",
        (COMMITTED, worker("regular activities", workflow="regular-steps")),
        ("overhead", "saturation"),
    ),
    Lever(
        "webhook-events",
        "Fewer writes per job: webhook events and the first heartbeat",
        "Committed: the provider's `completed` webhook only, and store_output's first"
        " heartbeat after 10 s. Against: `start` and `completed` (the `start` event wakes"
        " the workflow for nothing), and a first heartbeat at once; and no webhook at all,"
        " which at 0 s of provider latency costs nothing (`Prefer: wait` returns the finished"
        " prediction) and so prices the `completed` signal that arrives after it.",
        (
            COMMITTED,
            worker(
                "start + completed, early heartbeat",
                events=["start", "completed"],
                early_heartbeat=True,
            ),
            Setup("no webhooks", worker_env={"WEBHOOK_BASE_URL": ""}),
        ),
        ("saturation",),
    ),
    Lever(
        "sandbox",
        "Workflow sandbox",
        "Committed: the sandbox with every module passed through"
        " (`SandboxRestrictions.default.with_passthrough_all_modules()`: imported once)."
        " Against: the SDK's default sandbox (re-imports the workflow's modules for every"
        " workflow run), and no sandbox.",
        (COMMITTED, worker("default sandbox", sandbox="default"), worker("off", sandbox="off")),
        ("overhead", "saturation"),
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
        "Committed: 500 activities, 100 workflow tasks, the SDK's 5 workflow-task and 5"
        " activity-task pollers. Against: 20 and 10 pollers; and 20 workflow tasks.",
        (
            COMMITTED,
            worker(
                "20 + 10 pollers",
                worker={
                    "max_concurrent_workflow_task_polls": 20,
                    "max_concurrent_activity_task_polls": 10,
                },
            ),
            Setup("20 workflow tasks", worker_env={"WORKER_MAX_CONCURRENT_WORKFLOW_TASKS": "20"}),
        ),
        ("saturation",),
    ),
    Lever(
        "api",
        "API server: event loop, HTTP parser, access log, JSON, connection pool, deferred start",
        "uvicorn's defaults here are uvloop + httptools (uvicorn[standard]); the submit figure"
        " (1) with each changed through uvicorn's and the service's environment variables, with"
        " ORJSONResponse (`variant_api`), and with the workflow start taken off the request"
        " path (`variant_api_deferred`, not durable as it stands).",
        (
            COMMITTED,
            Setup("asyncio + h11", api_env={"UVICORN_LOOP": "asyncio", "UVICORN_HTTP": "h11"}),
            Setup("no access log", api_env={"UVICORN_ACCESS_LOG": "false"}),
            Setup("ORJSONResponse", api_app="tests.bench.variant_api:app"),
            Setup("DB pool 40", api_env={"DATABASE_POOL_SIZE": "40"}),
            Setup("start deferred", api_app="tests.bench.variant_api_deferred:app"),
        ),
        ("submit",),
    ),
)
