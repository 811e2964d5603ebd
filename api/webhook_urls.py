"""The submit-time check of a job's `webhook_url`: a URL the worker would refuse is a 422.

The same rules run again when the webhook is sent (core.outbound_http), since what a
name resolves to may change in between.
"""

from __future__ import annotations

import asyncio

from fastapi import HTTPException, status

from core.addresses import RefusedUrl, Resolver
from core.config import Settings
from core.outbound_http import webhook_url_policy

RESOLVE_TIMEOUT = 5.0  # seconds; a name that answers slower is refused like one that fails


async def check_webhook_url(url: str, settings: Settings, resolver: Resolver | None = None) -> None:
    """Raise a 422 naming `webhook_url` and the reason when the URL may not be called."""
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT):
            await webhook_url_policy(settings, resolver).check(url)
    except RefusedUrl as exc:
        reason = exc.reason
    except TimeoutError:
        reason = f"its host did not resolve within {RESOLVE_TIMEOUT:g} s"
    else:
        return
    raise HTTPException(
        status.HTTP_422_UNPROCESSABLE_ENTITY,
        [{"loc": ["body", "webhook_url"], "msg": f"webhook_url {reason}", "type": "value_error"}],
    )
