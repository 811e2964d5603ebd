"""The worker process: builds the clients once, constructs the activities, runs the Worker."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any

import uvloop
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.images import ImageActivities
from activities.imaging import ImageWorkers
from activities.jobs import JobActivities
from activities.reconcile import ReconcileActivities
from activities.urls import Urls
from core.config import Settings, get_settings, required_or_exit
from core.db import make_engine, make_session_factory
from core.logging import configure_logging
from core.media_urls import MediaSigner
from core.outbound_http import WebhookSender
from core.output_rules import Downloads, OutputRules, download_http
from core.replicate import ReplicateClient
from core.storage import Storage
from core.temporal import connect_temporal
from worker.schedules import ensure_reconcile_schedule
from workflows.generation import GenerateMediaWorkflow
from workflows.processing import ProcessImageWorkflow
from workflows.reconcile import ReconcileJobsWorkflow

log = logging.getLogger("worker")
# The sandbox still guards determinism (no clocks, I/O or randomness in workflow code), but
# takes every module from the worker's one import instead of re-importing the workflow's
# modules for each workflow run; our workflow modules keep no mutable module state.
# docs/BENCHMARKS.md ("sandbox") measures what it saves.
WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_all_modules()
)


def activity_methods(
    activities: JobActivities, images: ImageActivities
) -> list[Callable[..., Any]]:
    """Every activity of both job workflows, bound to its clients."""
    return [
        activities.start_prediction,
        activities.create_prediction,
        activities.get_prediction,
        activities.cancel_prediction,
        activities.store_output,
        activities.delete_outputs,
        activities.write_metadata,
        activities.mirror_status,
        activities.notify_webhook,
        images.probe_image,
        images.make_variant,
        images.write_process_metadata,
    ]


def worker_tuning(settings: Settings) -> dict[str, Any]:
    """The Worker's slots, workflow cache, sticky timeout and shutdown drain, from the settings."""
    return {
        "max_concurrent_activities": settings.worker_max_concurrent_activities,
        "max_concurrent_workflow_tasks": settings.worker_max_concurrent_workflow_tasks,
        "max_cached_workflows": settings.worker_max_cached_workflows,
        "sticky_queue_schedule_to_start_timeout": timedelta(
            seconds=settings.worker_sticky_timeout_seconds
        ),
        "graceful_shutdown_timeout": timedelta(seconds=settings.worker_graceful_shutdown_seconds),
    }


def build_worker(
    client: Client,
    activities: JobActivities,
    images: ImageActivities,
    settings: Settings,
    reconcile: ReconcileActivities,
) -> Worker:
    """The Worker with both job workflows, the reconciler and every activity of them."""
    return Worker(
        client,
        task_queue=settings.temporal_task_queue,
        workflows=[GenerateMediaWorkflow, ProcessImageWorkflow, ReconcileJobsWorkflow],
        activities=[*activity_methods(activities, images), reconcile.reconcile_batch],
        workflow_runner=WORKFLOW_RUNNER,
        **worker_tuning(settings),
    )


async def run(settings: Settings, stop: asyncio.Event) -> None:
    """Run the worker until `stop` is set, then finish in-flight tasks and close clients."""
    runtime = Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(
                bind_address=f"{settings.worker_metrics_host}:{settings.worker_metrics_port}"
            )
        )
    )
    async with AsyncExitStack() as stack:
        client = await connect_temporal(settings, runtime=runtime)
        provider_http = await stack.enter_async_context(
            ReplicateClient.build_http(
                settings.provider_base_url, settings.replicate_api_token.get_secret_value()
            )
        )
        storage = Storage.from_settings(settings)
        stack.push_async_callback(storage.close)
        engine = make_engine(settings)
        stack.push_async_callback(engine.dispose)
        sessions = make_session_factory(engine)
        urls = Urls(settings.public_base_url, settings.webhook_base_url)
        replicate = ReplicateClient(provider_http, logs_events=settings.provider_logs_progress)
        activities = JobActivities(
            replicate=replicate,
            storage=storage,
            sessions=sessions,
            urls=urls,
            signer=MediaSigner.from_settings(settings),
            webhooks=WebhookSender.from_settings(settings),
            prefer_wait_seconds=settings.replicate_prefer_wait,
            downloads=Downloads(
                OutputRules.build(settings.output_allowed_hosts, settings.provider_base_url),
                await stack.enter_async_context(download_http()),
                tuple(settings.output_allowed_types),
            ),
        )
        images = ImageActivities(
            storage=storage,
            urls=urls,
            workers=ImageWorkers(settings.image_max_concurrency),
            presets=settings.variant_presets,
            sessions=sessions,
        )
        reconcile = ReconcileActivities(
            sessions=sessions, temporal=client, replicate=replicate, urls=urls
        )
        worker = build_worker(client, activities, images, settings, reconcile)
        await ensure_reconcile_schedule(client, settings)
        log.info("worker polling task queue %s", settings.temporal_task_queue)
        async with worker:
            await stop.wait()
        log.info("worker stopped")


def run_on_event_loop(settings: Settings, main: Coroutine[Any, Any, None]) -> None:
    """Run `main` to completion on the event loop the settings name."""
    if settings.worker_event_loop == "uvloop":
        uvloop.run(main)
    else:
        asyncio.run(main)


def main() -> None:
    settings = get_settings()
    required_or_exit(settings)
    configure_logging(settings)

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await run(settings, stop)

    run_on_event_loop(settings, _main())
