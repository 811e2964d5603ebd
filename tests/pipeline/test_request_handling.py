"""What the API does around every request: the job id on its log lines, bounded metric
labels, and the body-size cap however the body is sent."""

from __future__ import annotations

import asyncio
import re

from core.models import Job

OUR_LINE = re.compile(r"^\d{4}-\d\d-\d\d ")  # core.logging's text format; uvicorn's differ


async def test_every_log_line_of_a_job_request_carries_the_job_id(api, stack, sessions):
    job = Job(prompt="an orphaned fox", model_name="test-owner/orphan")  # a row, no workflow
    async with sessions() as session:
        session.add(job)
        await session.commit()
    log = stack.log_path("api")
    start = log.stat().st_size

    canceled = await api.delete(f"/api/v1/jobs/{job.id}")

    assert canceled.status_code == 202
    await asyncio.sleep(0.5)  # let the lines reach the file
    with log.open() as file:
        file.seek(start)
        lines = file.read().splitlines()
    ours = [line for line in lines if OUR_LINE.match(line)]
    assert any("has no workflow" in line for line in ours), lines
    assert all(f"job_id={job.id}" in line for line in ours), ours


async def test_the_method_label_of_request_metrics_is_bounded(api):
    # PROPFIND is one of the many methods the HTTP parser lets through; none is ours.
    await api.request("PROPFIND", "/health")

    metrics = (await api.get("/metrics")).text

    assert 'method="PROPFIND"' not in metrics
    assert re.search(r'mediagen_http_requests_total\{[^}]*method="other"', metrics)


async def test_a_chunked_body_over_the_cap_is_413(api, settings):
    chunk = b"x" * 65_536

    async def body():
        for _ in range(settings.max_body_bytes // len(chunk) + 2):
            yield chunk

    response = await api.post(
        "/api/v1/generate", content=body(), headers={"content-type": "application/json"}
    )

    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 413, response.text
    assert "detail" in response.json()
