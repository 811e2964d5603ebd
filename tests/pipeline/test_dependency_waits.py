"""The API bounds its waits on Temporal, and holds no database transaction while it waits."""

from __future__ import annotations

import asyncio
import signal
import time

import httpx
import sqlalchemy as sa

from api.deps import TEMPORAL_RPC_TIMEOUT
from tests.pipeline.conftest import submit, wait_for

# The prediction runs a minute and the first cancel of it hangs 8 s at the provider, so the
# workflow takes longer to finish cancelling than DELETE waits for it.
SLOW_TO_CANCEL = {"fake": {"latency": 60, "hang_cancel": 1, "hang_seconds": 8}}
IDLE_IN_TRANSACTION = sa.text(
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
    " AND state = 'idle in transaction' AND now() - state_change > interval '1 second'"
)


async def test_delete_holds_no_transaction_open_while_it_waits(api, sessions, settings):
    job = await submit(api, "a fox slow to stop", parameters=SLOW_TO_CANCEL)
    await wait_for(api, job["id"], {"processing"})
    deleting = asyncio.create_task(api.delete(f"/api/v1/jobs/{job['id']}"))
    idle: list[int] = []
    while not deleting.done():
        async with sessions() as session:
            idle.append((await session.execute(IDLE_IN_TRANSACTION)).scalar_one())
        await asyncio.sleep(0.2)

    response = await deleting

    assert response.status_code == 202
    assert len(idle) >= settings.cancel_wait_seconds  # it did wait, and we watched it
    assert not any(idle), idle
    await wait_for(api, job["id"], {"canceled"})


async def test_a_paused_temporal_is_a_503_within_the_rpc_timeout(api, stack, settings):
    waiting = await submit(api, "a fox that waits", parameters={"fake": {"latency": 60}})
    bound = TEMPORAL_RPC_TIMEOUT.total_seconds() + 5
    stack.kill("temporal", signal.SIGSTOP)
    try:
        begun = time.monotonic()
        submitted = await api.post(
            "/api/v1/generate", json={"prompt": "a fox on hold"}, timeout=bound
        )
        canceled = await api.delete(f"/api/v1/jobs/{waiting['id']}", timeout=bound)
        took = time.monotonic() - begun
    except httpx.TimeoutException as exc:
        raise AssertionError(f"the API still waits on Temporal after {bound}s") from exc
    finally:
        stack.kill("temporal", signal.SIGCONT)

    assert submitted.status_code == canceled.status_code == 503
    assert "unavailable" in submitted.json()["detail"]
    assert took < 2 * bound
    await api.delete(f"/api/v1/jobs/{waiting['id']}")
