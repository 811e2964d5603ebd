"""Service endpoints: index, health, metrics, info."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.auth import AdminDep, keyed_router
from api.deps import ServicesDep, SessionDep, SettingsDep
from api.health import check_dependencies
from api.metrics import JOBS_BY_STATUS, REGISTRY
from api.openapi import example
from core.repository import count_by_status
from core.version import VERSION

router = APIRouter(tags=["service"])
# What an operator reads: the configuration and the dependencies' state need an admin key.
admin = keyed_router(admin=True, tags=["service"])


@router.get(
    "/",
    responses=example(
        {
            "service": "mediagen",
            "version": "0.1.0",
            "docs": "/docs",
            "openapi": "/openapi.json",
            "health": "/health",
            "temporal_ui": "http://127.0.0.1:8233",
            "ui": "/ui",
        }
    ),
)
async def index(settings: SettingsDep) -> dict[str, Any]:
    """Name, version and where to go next."""
    return {
        "service": settings.service_name,
        "version": VERSION,
        "docs": "/docs",
        "openapi": "/openapi.json",
        "health": "/health",
        "temporal_ui": settings.temporal_ui_url,
        "ui": "/ui",
    }


@router.get(
    "/health", responses=example({"status": "healthy", "service": "mediagen", "version": "0.1.0"})
)
async def health(settings: SettingsDep) -> dict[str, str]:
    """The process is up (for load balancers); checks nothing else."""
    return {"status": "healthy", "service": settings.service_name, "version": VERSION}


@admin.get(
    "/health/detailed",
    responses={
        **example(
            {
                "status": "healthy",
                "service": "mediagen",
                "version": "0.1.0",
                "dependencies": {
                    name: {"status": "up", "latency_ms": 2.1}
                    for name in ("database", "temporal", "object_storage", "provider")
                },
            }
        ),
        503: {"description": "At least one dependency is down (its entry says `down` and why)"},
    },
)
async def health_detailed(services: ServicesDep, _: AdminDep) -> JSONResponse:
    """Each dependency (database, Temporal, object storage, provider) with status and latency.

    Admin keys only. The provider is probed at most every 30 s (its entry says `cached`).
    """
    dependencies = await check_dependencies(services)
    healthy = all(check["status"] == "up" for check in dependencies.values())
    body = {
        "status": "healthy" if healthy else "degraded",
        "service": services.settings.service_name,
        "version": VERSION,
        "dependencies": dependencies,
    }
    return JSONResponse(body, status_code=200 if healthy else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses=example(
        'mediagen_jobs{status="completed"} 42.0\n'
        'mediagen_http_requests_total{code="202",method="POST",route="/api/v1/generate"} 42.0\n',
        media_type="text/plain",
    ),
)
async def metrics(session: SessionDep) -> Response:
    """Prometheus text format: jobs by status, HTTP requests by route and code, latency."""
    JOBS_BY_STATUS.counts = await count_by_status(session)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


_PASSWORD_IN_URL = re.compile(r"(//[^:/@]+:)[^@]+@")


@admin.get(
    "/info",
    responses=example(
        {
            "service": "mediagen",
            "version": "0.1.0",
            "settings": {"temporal_address": "127.0.0.1:7233", "s3_secret_key": "**********"},
        }
    ),
)
async def info(settings: SettingsDep, _: AdminDep) -> dict[str, Any]:
    """The configuration in force, secrets masked (admin keys only)."""
    shown = settings.model_dump(mode="json")
    shown["database_url"] = _PASSWORD_IN_URL.sub(r"\1****@", settings.database_url)
    return {"service": settings.service_name, "version": VERSION, "settings": shown}
