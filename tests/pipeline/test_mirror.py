"""The status mirror never fails a job that has paid for its prediction."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

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
        assert await mirror_job_update(
            session, _update(holder, key, JobStatus.PENDING), result_url=None
        )

    async with sessions() as session:
        written = await mirror_job_update(
            session, _update(recreated, key, JobStatus.PROCESSING), result_url=None
        )

    assert written
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
        written = await mirror_job_update(
            session, _update(job_id, None, JobStatus.CANCELED), result_url=None
        )
    assert not written
    assert (await read_row(sessions, job_id)).status == JobStatus.FAILED.value
