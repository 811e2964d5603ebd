"""Dependencies every `/v1` API route shares: the bearer token, then the random faults."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request

from devstack.fake_replicate.problems import ProblemError
from devstack.fake_replicate.runtime import get_runtime


def has_token(request: Request) -> bool:
    """Any non-empty `Bearer` (or legacy `Token`) credential is accepted."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() in ("bearer", "token") and bool(token.strip())


def api_guard(step: str) -> Callable[[Request], Awaitable[None]]:
    """A dependency for one kind of API request: 401 without a token, then random faults."""

    async def guard(request: Request) -> None:
        if not has_token(request):
            raise ProblemError(
                401,
                "Unauthenticated",
                "You did not pass a valid authentication token",
                slug="unauthenticated",
            )
        await get_runtime(request).faults.random_faults(step)

    return guard
