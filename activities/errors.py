"""How activity failures reach Temporal: typed, classified, and carrying their attempt.

Each activity's exceptions become one `ApplicationError` whose `type` names the error,
whose `non_retryable` says whether repeating could help (the policies in
`workflows.policies` name the same types), and whose first detail is the attempt number,
so the workflow can count retries into the job's `retry_count`.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import ParamSpec, TypeVar

from sqlalchemy.exc import DataError, IntegrityError, ProgrammingError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from core.replicate import ProviderRateLimited, ProviderRejected

# Failures that the same input will meet again: a refused provider request, or a database
# write the schema rejects (a bug to fix, not an outage to wait out).
PERMANENT = (ProviderRejected, IntegrityError, DataError, ProgrammingError)

P = ParamSpec("P")
R = TypeVar("R")


def to_application_error(exc: Exception, attempt: int) -> ApplicationError:
    """The ApplicationError Temporal records for `exc`."""
    if isinstance(exc, ApplicationError):
        return exc
    error = ApplicationError(
        str(exc) or type(exc).__name__,
        attempt,
        type=type(exc).__name__,
        non_retryable=isinstance(exc, PERMANENT),
        next_retry_delay=(
            timedelta(seconds=exc.retry_after) if isinstance(exc, ProviderRateLimited) else None
        ),
    )
    error.__cause__ = exc
    return error


def classified(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Decorates an activity so every failure it raises is classified as above."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except (asyncio.CancelledError, ApplicationError):
            raise  # an ApplicationError is already classified: as its own cause it would loop
        except Exception as exc:
            raise to_application_error(exc, activity.info().attempt) from exc

    return wrapper
