"""Two owners and an admin over every endpoint: who sees, cancels and downloads what
(API.md, "Authentication"); who is refused is in test_keys_refused.py."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.pipeline.conftest import wait_for
from tests.pipeline.tenants import (
    Route,
    Tenant,
    anon,
    api_v1_routes,
    mint,
)

__all__ = ["anon"]  # a fixture, imported to be found here

SLOW = {"fake": {"latency": 60}}
STATUSES = ("pending", "processing", "completed", "failed", "canceled")
# Query values that make a job-id route answer about the job rather than refuse the request.
QUERY = {"/api/v1/download/{job_id}": {"index": 0}}


@dataclass
class World:
    a: Tenant
    b: Tenant
    admin: Tenant
    a_model: str
    a_done: dict[str, Any]  # completed: metadata and download exist
    a_running: dict[str, Any]  # in flight (slow), for cancel
    b_done: dict[str, Any]


async def post_job(anon: httpx.AsyncClient, who: Tenant, **body: Any) -> dict[str, Any]:
    response = await anon.post("/api/v1/generate", json=body, headers=who.headers)
    assert response.status_code == 202, response.text
    document: dict[str, Any] = response.json()
    return document


async def wait_as(
    anon: httpx.AsyncClient, who: Tenant, job_id: str, statuses: set[str]
) -> dict[str, Any]:
    client = httpx.AsyncClient(base_url=str(anon.base_url), headers=who.headers, timeout=30)
    async with client:
        document, _ = await wait_for(client, job_id, statuses)
    return document


@pytest.fixture(scope="module")
async def world(anon, sessions) -> World:
    a, b = await mint(sessions), await mint(sessions)
    admin = await mint(sessions, admin=True)
    a_model = f"tenant-a/model-{uuid.uuid4().hex[:8]}"
    a_done = await post_job(anon, a, prompt="a's finished fox", model_name=a_model)
    a_running = await post_job(anon, a, prompt="a's slow fox", model_name=a_model, parameters=SLOW)
    b_done = await post_job(anon, b, prompt="b's finished fox")
    a_done = await wait_as(anon, a, a_done["id"], {"completed"})
    b_done = await wait_as(anon, b, b_done["id"], {"completed"})
    a_running = await wait_as(anon, a, a_running["id"], {"processing"})
    return World(a, b, admin, a_model, a_done, a_running, b_done)


def job_id_routes() -> list[Route]:
    routes = [route for route in api_v1_routes() if route.takes_job_id]
    # The routes of API.md must be among them (a walk that found nothing would prove nothing).
    assert {(r.method, r.path) for r in routes} >= {
        ("GET", "/api/v1/status/{job_id}"),
        ("GET", "/api/v1/jobs/{job_id}/metadata"),
        ("GET", "/api/v1/download/{job_id}"),
        ("DELETE", "/api/v1/jobs/{job_id}"),
    }
    return routes


async def call(
    anon: httpx.AsyncClient, who: Tenant | None, route: Route, job_id: str | None = None
) -> httpx.Response:
    headers = who.headers if who is not None else {}
    kwargs: dict[str, Any] = {"headers": headers, "params": QUERY.get(route.path, {})}
    if route.method in {"POST", "PUT", "PATCH"}:
        kwargs["json"] = {"prompt": "a fox"}
    return await anon.request(route.method, route.url(job_id), **kwargs)


def without_id(response: httpx.Response, job_id: str) -> tuple[int, str, Any]:
    """What a 404 says, with the job id it names taken out."""
    body = response.json()
    assert set(body) == {"detail"}, body
    detail = str(body["detail"]).replace(job_id, "<id>")
    return response.status_code, response.headers["content-type"], detail


async def test_another_owners_job_is_404_like_a_missing_one_and_stays_as_it_was(anon, world):
    a, b = world.a, world.b
    running_id = world.a_running["id"]
    before = (await anon.get(f"/api/v1/status/{running_id}", headers=a.headers)).json()
    assert before["status"] == "processing"

    # DELETE last: the reads must answer the same before and after it
    routes = sorted(job_id_routes(), key=lambda route: route.method == "DELETE")
    for route in routes:
        unknown = str(uuid.uuid4())
        missing = await call(anon, b, route, unknown)
        assert missing.status_code == 404, f"{route}: {missing.text}"
        for job in (world.a_done, world.a_running):
            foreign = await call(anon, b, route, job["id"])
            where = f"B {route.method} {route.path} on A's {job['status']} job"
            assert without_id(foreign, job["id"]) == without_id(missing, unknown), where
            assert job["prompt"] not in foreign.text, where

    after = (await anon.get(f"/api/v1/status/{running_id}", headers=a.headers)).json()
    assert after["status"] == "processing", after
    assert after["completed_at"] is None
    done = (await anon.get(f"/api/v1/status/{world.a_done['id']}", headers=a.headers)).json()
    assert done["status"] == "completed"
    assert done["outputs"]
    assert done["outputs"][0]["sha256"] == world.a_done["outputs"][0]["sha256"]

    canceled = await anon.delete(f"/api/v1/jobs/{running_id}", headers=a.headers)
    assert canceled.status_code == 202, canceled.text
    assert canceled.json()["status"] == "canceled"
    assert (await anon.delete(f"/api/v1/jobs/{running_id}", headers=a.headers)).status_code == 409


async def test_an_owner_reads_its_own_jobs_on_every_route(anon, world):
    a, job_id = world.a, world.a_done["id"]
    status = await anon.get(f"/api/v1/status/{job_id}", headers=a.headers)
    assert status.status_code == 200
    assert status.json()["id"] == job_id
    metadata = await anon.get(f"/api/v1/jobs/{job_id}/metadata", headers=a.headers)
    assert metadata.status_code == 200
    assert metadata.json()["prompt"] == "a's finished fox"
    download = await anon.get(f"/api/v1/download/{job_id}", params={"index": 0}, headers=a.headers)
    assert download.status_code == 200
    assert len(download.content) == world.a_done["outputs"][0]["file_size"]


async def list_all(anon: httpx.AsyncClient, who: Tenant, **query: Any) -> tuple[list[str], int]:
    """Every id of a listing, page by page, and the total it claims."""
    ids: list[str] = []
    offset, total = 0, 0
    while True:
        response = await anon.get(
            "/api/v1/jobs", params={**query, "limit": 100, "offset": offset}, headers=who.headers
        )
        assert response.status_code == 200, response.text
        page = response.json()
        total = page["total"]
        ids += [item["id"] for item in page["items"]]
        offset += 100
        if offset >= total or not page["items"]:
            return ids, total


def filters(world: World) -> list[dict[str, Any]]:
    every: list[dict[str, Any]] = [{}, {"model_name": world.a_model}, {"kind": "generate"}]
    every += [{"status": status} for status in STATUSES]
    every += [{"status_filter": status} for status in STATUSES]
    every += [{"status": "completed", "model_name": world.a_model}]
    every += [{"status_filter": "canceled", "model_name": world.a_model}]
    return every


async def test_lists_hold_only_the_owners_jobs_whatever_the_filter(anon, world):
    a_ids = {world.a_done["id"], world.a_running["id"]}
    b_ids = {world.b_done["id"]}
    for query in filters(world):
        b_list, b_total = await list_all(anon, world.b, **query)
        assert not a_ids & set(b_list), query
        assert set(b_list) <= b_ids, query
        assert b_total == len(b_list), query
        a_list, a_total = await list_all(anon, world.a, **query)
        assert not b_ids & set(a_list), query
        assert set(a_list) <= a_ids, query
        assert a_total == len(a_list), query
    assert set((await list_all(anon, world.a))[0]) == a_ids
    assert set((await list_all(anon, world.b))[0]) == b_ids
    # pages of one item: the owner's jobs still, and never a neighbour's
    for offset in range(3):
        page = await anon.get(
            "/api/v1/jobs", params={"limit": 1, "offset": offset}, headers=world.b.headers
        )
        assert {item["id"] for item in page.json()["items"]} <= b_ids
        assert page.json()["total"] == 1


async def test_the_admin_sees_and_reads_both_owners_jobs(anon, world):
    admin = world.admin
    everyone, total = await list_all(anon, admin)
    assert total == len(everyone)
    for job in (world.a_done, world.a_running, world.b_done):
        assert job["id"] in everyone
        status = await anon.get(f"/api/v1/status/{job['id']}", headers=admin.headers)
        assert status.status_code == 200
        assert status.json()["prompt"] == job["prompt"]
    a_only, _ = await list_all(anon, admin, model_name=world.a_model)
    assert set(a_only) == {world.a_done["id"], world.a_running["id"]}
    for job in (world.a_done, world.b_done):
        metadata = await anon.get(f"/api/v1/jobs/{job['id']}/metadata", headers=admin.headers)
        assert metadata.status_code == 200
        assert metadata.json()["prompt"] == job["prompt"]
        download = await anon.get(f"/api/v1/download/{job['id']}", headers=admin.headers)
        assert download.status_code == 200
        assert len(download.content) == job["outputs"][0]["file_size"]


async def test_an_idempotency_key_belongs_to_its_owner(anon, world):
    key = {"Idempotency-Key": f"shared-{uuid.uuid4()}"}
    body = {"prompt": "the same fox", "parameters": SLOW}
    a_first = await anon.post("/api/v1/generate", json=body, headers={**world.a.headers, **key})
    b_first = await anon.post("/api/v1/generate", json=body, headers={**world.b.headers, **key})
    b_again = await anon.post("/api/v1/generate", json=body, headers={**world.b.headers, **key})
    assert a_first.status_code == b_first.status_code == b_again.status_code == 202
    a_id, b_id = a_first.json()["id"], b_first.json()["id"]
    assert a_id != b_id  # B got a job of its own, not A's
    assert b_again.json()["id"] == b_id  # and replays it
    assert (await anon.get(f"/api/v1/status/{b_id}", headers=world.b.headers)).status_code == 200
    assert (await anon.get(f"/api/v1/status/{b_id}", headers=world.a.headers)).status_code == 404
    assert (await anon.get(f"/api/v1/status/{a_id}", headers=world.b.headers)).status_code == 404
    # a different body under B's key conflicts with B's job only; A's replay is untouched
    other = await anon.post(
        "/api/v1/generate", json={"prompt": "another fox"}, headers={**world.b.headers, **key}
    )
    assert other.status_code == 409
    a_again = await anon.post("/api/v1/generate", json=body, headers={**world.a.headers, **key})
    assert a_again.status_code == 202
    assert a_again.json()["id"] == a_id
    for who, job_id in ((world.a, a_id), (world.b, b_id)):
        canceled = await anon.delete(f"/api/v1/jobs/{job_id}", headers=who.headers)
        assert canceled.status_code == 202
