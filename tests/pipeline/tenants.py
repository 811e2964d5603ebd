"""Helpers of the tenancy tests: keys minted straight into the database, and the routes that
need a key or take a job id, read from the app itself so that a new route is not forgotten."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from api.auth import AuthenticatedRoute
from api.main import create_app
from core.api_keys import create_key, revoke_key
from core.config import get_settings

# High enough that no tenancy test is slowed down by its own quotas.
GENEROUS = {"rate_limit_per_minute": 100_000, "max_active_jobs": 100_000}
BEARER_401 = "Bearer"
# The provider's webhook is the only /api/v1 route without a key (API.md: "the provider's
# webhook endpoint need no key"); it checks its own signature.
KEYLESS_API_ROUTES = {("POST", "/api/v1/webhooks/replicate/{job_id}")}


@dataclass(frozen=True)
class Tenant:
    """A key of the running stack and the owner it belongs to."""

    owner: str
    token: str
    key_id: str
    admin: bool = False

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def mint(sessions: Any, owner: str | None = None, *, admin: bool = False) -> Tenant:
    """A fresh key for `owner` (default: an owner no other test uses)."""
    owner = owner or f"tenant-{uuid.uuid4().hex[:10]}"
    async with sessions() as session:
        new = await create_key(session, name=f"{owner}-key", owner=owner, admin=admin, **GENEROUS)
    return Tenant(owner=owner, token=new.token, key_id=new.record.id, admin=admin)


async def revoke(sessions: Any, tenant: Tenant) -> None:
    async with sessions() as session:
        assert await revoke_key(session, tenant.key_id) is not None


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    authenticated: bool

    @property
    def takes_job_id(self) -> bool:
        return "{job_id}" in self.path

    def url(self, job_id: str | uuid.UUID | None = None) -> str:
        """The path with `job_id` (default: a fresh, unknown uuid) filled in."""
        return re.sub(r"\{job_id\}", str(job_id or uuid.uuid4()), self.path)


def _walk(routes: Any, prefix: str = "") -> list[Route]:
    found: list[Route] = []
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI >= 0.16x: included routers
        if included is not None:
            context_prefix = getattr(getattr(route, "include_context", None), "prefix", "")
            found += _walk(included.routes, prefix + context_prefix)
        elif isinstance(route, APIRoute):
            for method in sorted((route.methods or set()) - {"HEAD", "OPTIONS"}):
                authenticated = isinstance(route, AuthenticatedRoute)
                found.append(Route(method, prefix + route.path, authenticated))
    return found


def app_routes() -> list[Route]:
    """Every (method, path) the app routes, and whether it checks a key first."""
    found = _walk(create_app(get_settings()).routes)
    assert found, "no route found in the app: has FastAPI changed how it keeps routers?"
    return found


def api_v1_routes() -> list[Route]:
    """The /api/v1 routes that need a key."""
    return [
        route
        for route in app_routes()
        if route.path.startswith("/api/v1/")
        and (route.method, route.path) not in KEYLESS_API_ROUTES
    ]


def assert_refused(response: Any, where: str) -> None:
    """A 401 as auth.py answers it: JSON with a detail, and `WWW-Authenticate: Bearer`."""
    assert response.status_code == 401, f"{where}: {response.status_code} {response.text[:200]}"
    assert response.headers.get("www-authenticate") == BEARER_401, where
    assert response.headers["content-type"].startswith("application/json"), where
    assert isinstance(response.json().get("detail"), str), where


@pytest.fixture(scope="module")
async def anon(settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client that sends no key of its own: each request says whose it is."""
    async with httpx.AsyncClient(base_url=settings.public_base_url, timeout=30) as client:
        yield client
