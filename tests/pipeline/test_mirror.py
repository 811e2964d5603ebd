"""The status mirror never fails a job that has paid for its prediction."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from core.job_news import StartHeard, hear_start
from core.jobs import GenerateMediaInput, JobStatus, JobUpdate
from core.repository import mirror_job_update
from tests.pipeline.conftest import read_row


def _update(job_id: str, key: str | None, status: JobStatus) -> JobUpdate:
    job = GenerateMediaInput(
        job_id=job_id,
        prompt="a mirrored owl",
        model_name="black-forest-labs/flux-schnell",
        created_at=datetime.now(UTC),
        idempotency_key=key,
        request_hash="h" if key else None,
        owner="mirror-test",
    )
    return JobUpdate(job=job, status=status, at=datetime.now(UTC), retry_count=0)


async def test_a_recreated_row_whose_key_another_job_holds_is_written_without_it(sessions):
    key = f"clash-{uuid.uuid4()}"
    holder, recreated = str(uuid.uuid4()), str(uuid.uuid4())
    async with sessions() as session:
        pending = await mirror_job_update(
            session, _update(holder, key, JobStatus.PENDING), result_url=None
        )
        assert pending.written

    async with sessions() as session:
        mirrored = await mirror_job_update(
            session, _update(recreated, key, JobStatus.PROCESSING), result_url=None
        )

    assert mirrored.written
    row = await read_row(sessions, recreated)
    assert row.status == JobStatus.PROCESSING.value
    assert row.idempotency_key is None
    assert (await read_row(sessions, holder)).idempotency_key == key


async def test_a_terminal_row_keeps_its_status(sessions):
    # A failed row, not a completed one: completed rows must match the workflows that
    # Temporal lists as completed (tests/pipeline/test_temporal_visibility.py).
    job_id = str(uuid.uuid4())
    async with sessions() as session:
        await mirror_job_update(session, _update(job_id, None, JobStatus.FAILED), result_url=None)
    async with sessions() as session:
        mirrored = await mirror_job_update(
            session, _update(job_id, None, JobStatus.CANCELED), result_url=None
        )
    assert not mirrored.written
    assert (await read_row(sessions, job_id)).status == JobStatus.FAILED.value


async def test_a_start_heard_while_creating_is_kept_for_the_processing_mirror(sessions):
    """The row keeps a `start` while the job has no prediction of its own; the mirror that
    names its own returns what was kept; a start after that is not kept (it is signalled)."""
    job_id = str(uuid.uuid4())
    async with sessions() as session:
        await mirror_job_update(session, _update(job_id, None, JobStatus.PENDING), result_url=None)

    own_early = await hear_start(sessions, uuid.UUID(job_id), "own")
    stray_early = await hear_start(sessions, uuid.UUID(job_id), "stray")
    repeated = await hear_start(sessions, uuid.UUID(job_id), "stray")
    processing = _update(job_id, None, JobStatus.PROCESSING).model_copy(
        update={"external_job_id": "own"}
    )
    async with sessions() as session:
        mirrored = await mirror_job_update(session, processing, result_url=None)
    stray_late = await hear_start(sessions, uuid.UUID(job_id), "late")
    own_late = await hear_start(sessions, uuid.UUID(job_id), "own")

    assert [own_early.kept, stray_early.kept, repeated.kept] == [True, True, True]
    assert mirrored.starts_heard == ["stray"]  # the job's own left out; each kept once
    assert stray_late == StartHeard(kept=False, current="own")
    assert own_late == StartHeard(kept=False, current="own")
    assert (await read_row(sessions, job_id)).starts_heard == ["own", "stray"]


async def test_a_start_for_no_such_job_is_not_kept(sessions):
    assert await hear_start(sessions, uuid.uuid4(), "stray") == StartHeard(kept=False, current=None)
