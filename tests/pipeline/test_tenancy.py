"""Two owners and an admin over every endpoint: who sees, cancels and downloads what, and who
is refused before anything of a request is read (API.md, "Authentication")."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.pipeline.conftest import wait_for
from tests.pipeline.tenants import (
    Route,
    Tenant,
    api_v1_routes,
    app_routes,
    assert_refused,
    mint,
    revoke,
)

SLOW = {"fake": {"latency": 60}}
STATUSES = ("pending", "processing", "completed", "failed", "canceled")
ADMIN_ONLY = ("/info", "/health/detailed")
PUBLIC = ("/", "/health", "/metrics", "/docs", "/redoc", "/openapi.json")
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


@pytest.fixture(scope="module")
async def anon(settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client that sends no key of its own: each request says whose it is."""
    async with httpx.AsyncClient(base_url=settings.public_base_url, timeout=30) as client:
        yield client


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


def refused_headers(valid: Tenant, unknown_id: str) -> dict[str, dict[str, str]]:
    _, public_id, secret = valid.token.split("_")
    wrong_secret = ("0" if secret[0] != "0" else "1") + secret[1:]
    return {
        "no header": {},
        "empty header": {"Authorization": ""},
        "basic scheme": {"Authorization": f"Basic {valid.token}"},
        "token scheme": {"Authorization": f"Token {valid.token}"},
        "bare key": {"Authorization": valid.token},
        "bearer alone": {"Authorization": "Bearer"},
        "malformed key": {"Authorization": "Bearer mg_nothex_123"},
        "key without prefix": {"Authorization": f"Bearer {public_id}_{secret}"},
        "truncated secret": {"Authorization": f"Bearer mg_{public_id}_{secret[:-1]}"},
        "unknown id": {"Authorization": f"Bearer mg_{unknown_id}_{secret}"},
        "wrong secret": {"Authorization": f"Bearer mg_{public_id}_{wrong_secret}"},
    }


def keyed_routes() -> list[Route]:
    routes = api_v1_routes()
    assert all(route.authenticated for route in routes), [r for r in routes if not r.authenticated]
    routes += [Route("GET", path, True) for path in ADMIN_ONLY]
    return routes


async def test_every_keyed_route_refuses_a_missing_or_wrong_key_with_401(anon, world):
    unknown_id = uuid.uuid4().hex[:12]
    routes = keyed_routes()
    for name, headers in refused_headers(world.admin, unknown_id).items():
        for route in routes:
            kwargs: dict[str, Any] = {"headers": headers}
            if route.method == "POST":
                kwargs["json"] = {"prompt": "a fox"}
            response = await anon.request(route.method, route.url(), **kwargs)
            assert_refused(response, f"{name}: {route.method} {route.path}")


async def test_a_revoked_key_is_refused_within_a_second_everywhere(anon, sessions):
    soon_gone = await mint(sessions, admin=True)
    assert (await anon.get("/api/v1/jobs", headers=soon_gone.headers)).status_code == 200
    assert (await anon.get("/info", headers=soon_gone.headers)).status_code == 200

    await revoke(sessions, soon_gone)
    revoked_at = time.monotonic()
    while (await anon.get("/api/v1/jobs", headers=soon_gone.headers)).status_code == 200:
        assert time.monotonic() - revoked_at < 1.0, "a revoked key still works after 1 s"
        await asyncio.sleep(0.02)

    for route in keyed_routes():
        kwargs: dict[str, Any] = {"headers": soon_gone.headers}
        if route.method == "POST":
            kwargs["json"] = {"prompt": "a fox"}
        response = await anon.request(route.method, route.url(), **kwargs)
        assert_refused(response, f"revoked: {route.method} {route.path}")


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"prompt": ""}', "application/json"),  # invalid
        (b'{"prompt": ', "application/json"),  # malformed JSON
        (b"\xff\xfe\x00garbage", "application/json"),  # not even UTF-8
        (b"prompt=a+fox", "application/x-www-form-urlencoded"),
        (b'{"prompt": "a fox", "parameters": {"width": NaN}}', "application/json"),
    ],
)
async def test_no_body_is_read_before_the_key(anon, world, content, content_type):
    unknown = refused_headers(world.a, uuid.uuid4().hex[:12])["unknown id"]
    for headers in ({}, unknown):
        response = await anon.post(
            "/api/v1/generate", content=content, headers={**headers, "Content-Type": content_type}
        )
        assert_refused(response, f"{content!r} with {headers}")
        assert "prompt" not in response.text  # nothing said about the body's fields


async def test_no_parameter_is_validated_before_the_key(anon):
    for path in (
        "/api/v1/status/not-a-uuid",
        "/api/v1/jobs?limit=0&status=nope",
        "/api/v1/jobs/not-a-uuid/metadata",
        "/api/v1/download/not-a-uuid?index=-1",
    ):
        response = await anon.get(path)
        assert_refused(response, path)
        assert "job_id" not in response.text
        assert "limit" not in response.text
    assert_refused(await anon.delete("/api/v1/jobs/not-a-uuid"), "DELETE not-a-uuid")


async def test_operator_endpoints_are_403_for_a_non_admin_key(anon, world):
    for path in ADMIN_ONLY:
        for who in (world.a, world.b):
            response = await anon.get(path, headers=who.headers)
            assert response.status_code == 403, f"{path}: {response.text}"
            assert "detail" in response.json()
        admitted = await anon.get(path, headers=world.admin.headers)
        assert admitted.status_code == 200, f"{path}: {admitted.text}"
    info = (await anon.get("/info", headers=world.admin.headers)).json()
    assert world.admin.token not in str(info)


async def test_public_endpoints_need_no_key(anon):
    for path in PUBLIC:
        response = await anon.get(path)
        assert response.status_code == 200, f"{path}: {response.text[:200]}"
    public_routes = {route.path for route in app_routes() if not route.authenticated}
    assert {"/", "/health", "/metrics"} <= public_routes


async def test_the_openapi_document_declares_the_bearer_scheme(anon):
    document = (await anon.get("/openapi.json")).json()
    schemes = document["components"]["securitySchemes"]
    bearer = {
        name
        for name, scheme in schemes.items()
        if scheme.get("type") == "http" and scheme.get("scheme", "").lower() == "bearer"
    }
    assert bearer, schemes
    keyed = {(route.method.lower(), route.path) for route in keyed_routes()}
    seen: set[tuple[str, str]] = set()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            declared = {name for entry in operation.get("security", []) for name in entry}
            if path.startswith("/api/v1/") or path in ADMIN_ONLY:
                assert declared & bearer, f"{method} {path} does not declare the key"
                assert "401" in operation["responses"], f"{method} {path}"
                seen.add((method, path))
            elif path in PUBLIC or path.startswith("/media/"):
                assert not declared, f"{method} {path} needs no key but declares {declared}"
    assert seen == keyed
