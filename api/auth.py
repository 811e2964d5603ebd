"""Who is asking: `Authorization: Bearer mg_…` checked before anything else of a request.

Routes of an `AuthenticatedRoute` router check the key before FastAPI reads the body or
validates a parameter, so a stranger learns nothing (not even which fields a route wants)
and gets a `401` for every request. Keys are looked up through `KeyCache`: a key's row is
read at most once per `KEY_CACHE_SECONDS` per process, so a revocation takes effect
within that time everywhere, and `last_used_at` is written at most once a minute per key.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response, Security, status
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer

from api.openapi import responses
from core.api_keys import get_key, parse_token, secret_matches, touch_key
from core.db import SessionFactory
from core.models import ApiKey, utcnow

KEY_CACHE_SECONDS = 0.5
LAST_USED_EVERY_SECONDS = 60.0

# Declares the scheme in the OpenAPI document (the Authorize button of /docs); the key is
# checked by AuthenticatedRoute, which runs before any dependency.
BEARER = HTTPBearer(
    auto_error=False,
    description="An API key, `mg_<id>_<secret>` (`mediagen keys create`).",
)


@dataclass(frozen=True)
class Caller:
    """The key a request came with: whose jobs it sees, and its quota overrides."""

    key_id: str
    owner: str
    is_admin: bool
    rate_limit_per_minute: int | None
    max_active_jobs: int | None

    @property
    def sees(self) -> str | None:
        """The owner whose jobs this caller sees; None for an admin (every job)."""
        return None if self.is_admin else self.owner


def _refused(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"}
    )


@dataclass
class _Entry:
    record: ApiKey | None
    read_at: float


class KeyCache:
    """The key rows this process has read lately, by public id."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions
        self._entries: dict[str, _Entry] = {}
        self._touched: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def caller(self, authorization: str | None) -> Caller:
        """The caller that an `Authorization` header names; raises a 401 for anything else."""
        scheme, _, token = (authorization or "").partition(" ")
        if not authorization:
            raise _refused("an API key is required: send Authorization: Bearer <key>")
        parts = parse_token(token.strip()) if scheme.lower() == "bearer" else None
        if parts is None:
            raise _refused("the Authorization header does not hold a key (Bearer mg_…)")
        public_id, secret = parts
        record = await self._record(public_id)
        if record is None or record.revoked_at is not None or not secret_matches(record, secret):
            raise _refused("this API key is unknown or revoked")
        return Caller(
            key_id=record.id,
            owner=record.owner,
            is_admin=record.is_admin,
            rate_limit_per_minute=record.rate_limit_per_minute,
            max_active_jobs=record.max_active_jobs,
        )

    async def _record(self, public_id: str) -> ApiKey | None:
        entry = self._entries.get(public_id)
        if entry is not None and time.monotonic() - entry.read_at < KEY_CACHE_SECONDS:
            return entry.record
        lock = self._locks.setdefault(public_id, asyncio.Lock())
        async with lock:  # one read per key at a time, however many requests wait on it
            entry = self._entries.get(public_id)
            if entry is None or time.monotonic() - entry.read_at >= KEY_CACHE_SECONDS:
                entry = _Entry(await self._read(public_id), time.monotonic())
                if entry.record is not None:  # ids nobody has must not grow the cache
                    self._entries[public_id] = entry
        return entry.record

    async def _read(self, public_id: str) -> ApiKey | None:
        async with self._sessions() as session:
            record = await get_key(session, public_id)
            if record is None:
                self._locks.pop(public_id, None)
                self._entries.pop(public_id, None)
                return None
            now = time.monotonic()
            if (
                now - self._touched.get(public_id, -LAST_USED_EVERY_SECONDS)
                >= LAST_USED_EVERY_SECONDS
            ):
                self._touched[public_id] = now
                await touch_key(session, public_id, utcnow())
            return record


def get_caller(request: Request) -> Caller:
    """The caller that AuthenticatedRoute established for this request."""
    caller: Caller = request.state.caller
    return caller


def get_admin(caller: Annotated[Caller, Depends(get_caller)]) -> Caller:
    if not caller.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this endpoint needs an admin key")
    return caller


CallerDep = Annotated[Caller, Depends(get_caller)]
AdminDep = Annotated[Caller, Depends(get_admin)]
BEARER_SCHEME = [Security(BEARER)]


class AuthenticatedRoute(APIRoute):
    """A route that answers 401 before reading anything of a request without a valid key."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def authenticated(request: Request) -> Response:
            keys: KeyCache = request.app.state.services.keys
            request.state.caller = await keys.caller(request.headers.get("authorization"))
            return await handler(request)

        return authenticated


def keyed_router(*, admin: bool = False, **options: Any) -> APIRouter:
    """A router whose every route needs a key (checked first) and says so in OpenAPI."""
    return APIRouter(
        route_class=AuthenticatedRoute,
        dependencies=BEARER_SCHEME,
        responses=responses(401, 403) if admin else responses(401),
        **options,
    )
