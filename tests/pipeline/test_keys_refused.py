"""Who is refused, and before anything of a request is read: no key, a wrong or revoked
one (401), a key that is not an admin's on the operator endpoints (403); what needs no key
(API.md, "Authentication")."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from tests.pipeline.tenants import (
    Route,
    Tenant,
    anon,
    api_v1_routes,
    app_routes,
    assert_refused,
    mint,
    revoke,
)

__all__ = ["anon"]  # a fixture, imported to be found here

ADMIN_ONLY = ("/info", "/health/detailed")
PUBLIC = ("/", "/health", "/metrics", "/docs", "/redoc", "/openapi.json")


@dataclass
class Keys:
    a: Tenant
    b: Tenant
    admin: Tenant


@pytest.fixture(scope="module")
async def keys(sessions) -> Keys:
    return Keys(await mint(sessions), await mint(sessions), await mint(sessions, admin=True))


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


async def test_every_keyed_route_refuses_a_missing_or_wrong_key_with_401(anon, keys):
    unknown_id = uuid.uuid4().hex[:12]
    routes = keyed_routes()
    for name, headers in refused_headers(keys.admin, unknown_id).items():
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
async def test_no_body_is_read_before_the_key(anon, keys, content, content_type):
    unknown = refused_headers(keys.a, uuid.uuid4().hex[:12])["unknown id"]
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


async def test_operator_endpoints_are_403_for_a_non_admin_key(anon, keys):
    for path in ADMIN_ONLY:
        for who in (keys.a, keys.b):
            response = await anon.get(path, headers=who.headers)
            assert response.status_code == 403, f"{path}: {response.text}"
            assert "detail" in response.json()
        admitted = await anon.get(path, headers=keys.admin.headers)
        assert admitted.status_code == 200, f"{path}: {admitted.text}"
    info = (await anon.get("/info", headers=keys.admin.headers)).json()
    assert keys.admin.token not in str(info)


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
