"""The API bounds its waits on Temporal, and holds no database transaction while it waits."""

from __future__ import annotations

import asyncio
import signal
import time

import httpx
import pytest
import sqlalchemy as sa
from temporalio.service import RPCError, RPCStatusCode

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


async def test_a_paused_temporal_delays_starts_but_refuses_no_submit(
    api, stack, temporal, settings
):
    """Submits never wait on Temporal (api/starter.py starts their workflows later); a job
    still waiting for its start is canceled without Temporal; a cancel that needs Temporal
    is a 503 within the RPC timeout."""
    running = await submit(api, "a fox that waits", parameters={"fake": {"latency": 60}})
    await wait_for(api, running["id"], {"processing"})
    bound = TEMPORAL_RPC_TIMEOUT.total_seconds() + 5
    stack.kill("temporal", signal.SIGSTOP)
    try:
        begun = time.monotonic()
        held = await api.post("/api/v1/generate", json={"prompt": "a fox on hold"}, timeout=5)
        submitted = time.monotonic() - begun
        dropped = await api.post("/api/v1/generate", json={"prompt": "a fox let go"}, timeout=5)
        dropped_canceled = await api.delete(f"/api/v1/jobs/{dropped.json()['id']}", timeout=bound)
        begun = time.monotonic()
        running_canceled = await api.delete(f"/api/v1/jobs/{running['id']}", timeout=bound)
        refused_in = time.monotonic() - begun
    except httpx.TimeoutException as exc:
        raise AssertionError(f"the API still waits on Temporal after {bound}s") from exc
    finally:
        stack.kill("temporal", signal.SIGCONT)

    assert held.status_code == dropped.status_code == 202, (held.text, dropped.text)
    assert submitted < 2.0, f"a submit took {submitted:.1f} s with Temporal paused"
    assert dropped_canceled.status_code == 202, dropped_canceled.text
    assert dropped_canceled.json()["status"] == "canceled"
    assert running_canceled.status_code == 503, running_canceled.text
    assert "unavailable" in running_canceled.json()["detail"]
    assert refused_in < bound
    await wait_for(api, held.json()["id"], {"completed"}, within=60)
    with pytest.raises(RPCError) as never_started:
        await temporal.get_workflow_handle(dropped.json()["id"]).describe()
    assert never_started.value.status == RPCStatusCode.NOT_FOUND
    assert (await api.get(f"/api/v1/status/{dropped.json()['id']}")).json()["status"] == "canceled"
    await api.delete(f"/api/v1/jobs/{running['id']}")
