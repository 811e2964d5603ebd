"""Submits one job with the API's own code, then dies (or fails) at a chosen point.

    python -m tests.faults.submit_and_die POINT PROMPT PARAMETERS_JSON

It runs `api.submit.submit_job` against the stack its environment names, exactly as
`POST /api/v1/generate` does (and, for `mid_start`, a `api.starter.WorkflowStarter` as the
API's lifespan does); only this helper wraps a step to inject the fault:

  before_commit  SIGKILL once the row and its outbox entry are written in the open
                 transaction, before the COMMIT: nothing may remain
  after_commit   SIGKILL just after the COMMIT, before anyone answered: the API's
                 starters must start the job, and the job run
  commit_lost    the COMMIT goes through but the process then hears of a failure (the
                 connection dropped before the answer came): the job stands, and runs
  mid_start      the submit commits without waking anyone, then this process's own
                 starter claims the job, starts its workflow and dies before settling
                 the outbox row: another starter claims it again, finds the workflow
                 started, and the job runs (and is paid for) once

It writes the job id on stdout as soon as it is known, then `submitted`, `refused`, or
(`mid_start` only, when another such process claimed its job first) `not-claimed`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

import api.starter
import api.submit
from api.auth import Caller
from api.deps import DependencyUnavailable, TemporalConnector
from api.schemas import JobCreate
from core.config import get_settings
from core.db import make_engine, make_session_factory
from core.models import WorkflowStart, utcnow

# How long a `mid_start` job stays out of the API's starters' reach.
HELD_BACK = timedelta(seconds=20)
POINTS = ("before_commit", "after_commit", "commit_lost", "mid_start")


def _say(text: str) -> None:
    sys.stdout.write(f"{text}\n")
    sys.stdout.flush()


# The owner its jobs are recorded under (the checks read them with an admin key).
FAULT_SUITE = Caller(
    key_id="fault-suite",
    owner="fault-suite",
    is_admin=False,
    rate_limit_per_minute=None,
    max_active_jobs=None,
)


def _original(module: object, name: str) -> Any:
    return getattr(module, name)


def _replace(module: object, name: str, value: Any) -> None:
    """Swap a name the API's code looks up in its module, as the fault needs."""
    setattr(module, name, value)


def _inject(point: str, session: Any) -> None:
    release, commit = _original(api.submit, "release"), session.commit
    committing = asyncio.Event()

    async def release_and_say(session_: Any, job_id: Any) -> None:
        _say(str(job_id))  # the last step before the job's COMMIT
        await release(session_, job_id)
        committing.set()

    async def commit_with_fault() -> None:
        if not committing.is_set():  # the quota admission's own commit
            await commit()
            return
        if point == "before_commit":
            os.kill(os.getpid(), signal.SIGKILL)
        await commit()
        if point == "after_commit":
            os.kill(os.getpid(), signal.SIGKILL)
        if point == "commit_lost":
            raise OperationalError("COMMIT", None, ConnectionResetError("connection reset"))

    _replace(api.submit, "release", release_and_say)
    session.commit = commit_with_fault
    if point == "mid_start":
        # Out of the API's starters' reach for a while (due later, and nobody woken), so
        # that this process's own starter (which sees that far ahead) is the one to claim it.
        _replace(api.submit, "notify_starters", lambda: sa.select(sa.literal(None)))
        _replace(
            api.submit,
            "WorkflowStart",
            lambda job_id: WorkflowStart(job_id=job_id, due_at=utcnow() + HELD_BACK),
        )
        _replace(api.starter, "utcnow", lambda: utcnow() + 2 * HELD_BACK)


async def _start_and_die(settings: Any, sessions: Any) -> None:
    """Claim due jobs as a starter does; die once a workflow has started, before settling."""
    start = _original(api.starter, "start_workflow")

    async def start_then_die(temporal: Any, job: Any, **options: Any) -> None:
        await start(temporal, job, **options)
        os.kill(os.getpid(), signal.SIGKILL)

    _replace(api.starter, "start_workflow", start_then_die)
    starter = api.starter.WorkflowStarter(sessions, TemporalConnector(settings), settings)
    await starter.start_due()
    _say("not-claimed")


async def main(point: str, prompt: str, parameters: dict[str, Any]) -> None:
    settings = get_settings()
    engine = make_engine(settings)
    sessions = make_session_factory(engine)
    try:
        async with sessions() as session:
            _inject(point, session)
            try:
                await api.submit.submit_job(
                    session,
                    JobCreate(prompt=prompt, parameters=parameters),
                    caller=FAULT_SUITE,
                    settings=settings,
                    idempotency_key=None,
                )
            except (OperationalError, DependencyUnavailable):
                _say("refused")
            else:
                _say("submitted")
        if point == "mid_start":
            await _start_and_die(settings, sessions)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in POINTS:
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1], sys.argv[2], json.loads(sys.argv[3])))
