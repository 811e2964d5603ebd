"""Submits one job with the API's own code, then dies (or fails) at a chosen point.

    python -m tests.faults.submit_and_die POINT PROMPT PARAMETERS_JSON

It runs `api.submit.submit_job` against the stack its environment names, exactly as
`POST /api/v1/generate` does; only this helper wraps a step to inject the fault:

  before_start  SIGKILL once the row is flushed in the open transaction, before the
                workflow starts: nothing may remain
  after_start   SIGKILL once the workflow has started, before the row is committed: the
                workflow's first status upsert must create the row, and the job run
  commit_lost   the COMMIT goes through but the process then hears of a failure (the
                connection dropped before the answer came): the job must not stay pending

It writes the job id on stdout as soon as it is known, then `submitted` or `refused`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from typing import Any

from sqlalchemy.exc import OperationalError

import api.submit
from api.auth import Caller
from api.deps import DependencyUnavailable
from api.schemas import JobCreate
from core.config import get_settings
from core.db import make_engine, make_session_factory
from core.temporal import connect_temporal

POINTS = ("before_start", "after_start", "commit_lost")


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


def _inject(point: str, session: Any) -> None:
    start = api.submit.start_workflow
    started = asyncio.Event()

    async def start_workflow(temporal: Any, job: Any, **options: Any) -> None:
        _say(str(job.id))
        if point == "before_start":
            os.kill(os.getpid(), signal.SIGKILL)
        await start(temporal, job, **options)
        started.set()
        if point == "after_start":
            os.kill(os.getpid(), signal.SIGKILL)

    api.submit.start_workflow = start_workflow
    if point == "commit_lost":
        commit = session.commit

        async def commit_then_lose_the_answer() -> None:
            await commit()
            if started.is_set():  # the job's commit, not the quota admission's before it
                raise OperationalError("COMMIT", None, ConnectionResetError("connection reset"))

        session.commit = commit_then_lose_the_answer


async def main(point: str, prompt: str, parameters: dict[str, Any]) -> None:
    settings = get_settings()
    engine = make_engine(settings)
    temporal = await connect_temporal(settings)
    try:
        async with make_session_factory(engine)() as session:
            _inject(point, session)
            try:
                await api.submit.submit_job(
                    session,
                    temporal,
                    JobCreate(prompt=prompt, parameters=parameters),
                    caller=FAULT_SUITE,
                    settings=settings,
                    idempotency_key=None,
                )
            except (OperationalError, DependencyUnavailable):
                _say("refused")
            else:
                _say("submitted")
    finally:
        await engine.dispose()


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in POINTS:
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1], sys.argv[2], json.loads(sys.argv[3])))
