"""The provider misbehaves at random: 500s, 429s with Retry-After, hangs, truncated files.

The fake provider of this module's stack draws a fault for every API request and every
download (seeded rates, see `STACK_ENV`); a few jobs also meet a hang longer than our
client's timeout, on a poll or on a download. The workers are given no webhook URL, so
every job polls its prediction and the polls meet the faults too. Every call is retried
(a 429 after its Retry-After); no job fails for it and no truncated file is ever stored.
"""

from __future__ import annotations

import uuid

import pytest

from tests.faults.checker import check_jobs, read_rows
from tests.faults.harness import (
    Workload,
    in_thread,
    plan_jobs,
    provider_state,
    restore,
    submit_all,
)

pytestmark = pytest.mark.slow

SEED = 8100
JOBS = 50
STACK_ENV = {
    "FAKE_REPLICATE_SEED": str(SEED),
    "FAKE_REPLICATE_ERROR_RATE_5XX": "0.1",
    "FAKE_REPLICATE_RATE_LIMIT_RATE": "0.1",
    "FAKE_REPLICATE_RETRY_AFTER_SECONDS": "1",
    "FAKE_REPLICATE_HANG_RATE": "0.05",
    "FAKE_REPLICATE_HANG_SECONDS": "3",
    "FAKE_REPLICATE_TRUNCATE_RATE": "0.2",
    "WEBHOOK_BASE_URL": "",  # poll only
}
# Longer than the provider client's 30 s timeout: the call is abandoned and retried. Their
# predictions take 5 s: a create's `Prefer: wait` (2 s) never answers them finished, so each
# is polled (with a planned 2.2 s, a loaded machine's late wake-up did answer one finished).
LONG_HANG = {"hang_seconds": 33.0, "latency": 5.0}
HANGS = ({"hang_get": 1}, {"hang_get": 1}, {"hang_download": 1}, {"hang_download": 1})
FAULTS = (":error", ":rate_limit", ":hang", ":truncate")
# A job that still fails after every retry fails for the provider's sake, cleanly.
PROVIDER_GAVE_UP = {"ProviderUnavailable", "ProviderRateLimited"}


async def test_a_webhook_while_the_provider_is_down_is_a_503(faults):
    """The API fetches the provider's webhook secret on the first webhook it receives."""
    await in_thread(faults.stack.stop_child, "fake_replicate")
    try:
        response = await faults.api.post(
            f"/api/v1/webhooks/replicate/{uuid.uuid4()}",
            content=b"{}",
            headers={"webhook-id": "m", "webhook-timestamp": "0", "webhook-signature": "v1,x"},
        )
    finally:
        await restore(faults.stack, "fake_replicate")

    assert response.status_code == 503, response.text
    assert "detail" in response.json()


async def test_provider_chaos_loses_no_job(faults, report):
    jobs = plan_jobs("provider-chaos", JOBS, seed=SEED)
    for job, hang in zip(jobs, HANGS, strict=False):
        job.parameters["fake"] |= {**hang, **LONG_HANG}
    workload = Workload("provider-chaos", jobs)
    await submit_all(faults.api, workload.jobs)

    outcome = await check_jobs(
        faults, "provider chaos", workload, within=240, may_fail=PROVIDER_GAVE_UP
    )

    state = await provider_state(faults)
    seen = state["faults"]
    kinds = {kind: sum(n for name, n in seen.items() if name.endswith(kind)) for kind in FAULTS}
    report(f"{outcome.line()}; provider faults met: {kinds}")
    assert all(kinds.values()), f"some fault never happened: {seen}"
    # Each long poll hang of HANGS was met by its job, if the job got to poll: a create may
    # still fail for good (PROVIDER_GAVE_UP), and then there is nothing to poll.
    rows = await read_rows(faults, [job.job_id for job in jobs[: len(HANGS)] if job.job_id])
    polled = [
        job
        for job, hang in zip(jobs, HANGS, strict=False)
        if "hang_get" in hang and job.job_id and rows[job.job_id].external_job_id
    ]
    assert polled, "no job with a long poll hang created its prediction"
    assert state["asked_hangs"].get("get", 0) == len(polled), state["asked_hangs"]
    outcome.assert_clean()
