"""Logs carry the job id and no secret; CORS answers the configured origins."""

from __future__ import annotations

import asyncio

from tests.pipeline.conftest import submit, wait_for


async def test_every_process_logs_the_job_id_and_no_secret(api, stack, settings):
    job = await submit(api, "a logged fox")
    await wait_for(api, job["id"], {"completed"})
    await asyncio.sleep(0.5)  # let the log lines reach the files

    api_log = stack.log_path("api").read_text()
    worker_log = stack.log_path("worker").read_text()
    every_log = "".join(path.read_text() for path in stack.logs_dir.glob("*.log"))

    assert "job submitted" in api_log
    assert f"job_id={job['id']}" in api_log
    assert f"job_id={job['id']}" in worker_log
    worker_lines = [line for line in worker_log.splitlines() if job["id"] in line]
    assert any("prediction" in line and "created" in line for line in worker_lines)
    assert any("stored media/" in line for line in worker_lines)
    assert settings.s3_secret_key.get_secret_value() not in every_log


async def test_cors_preflight_answers_an_allowed_origin(api):
    response = await api.options(
        "/api/v1/generate",
        headers={"Origin": "http://example.test", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in {"*", "http://example.test"}
