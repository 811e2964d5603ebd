"""What a running activity reports of itself: its attempt, and that it is alive."""

from __future__ import annotations

import asyncio

from temporalio import activity

HEARTBEAT_EVERY = 10.0  # seconds; well inside the heartbeat timeouts of workflows.policies


def current_attempt() -> int:
    """The running activity's attempt (1-based), which each result reports."""
    return activity.info().attempt


async def heartbeats() -> None:
    """Beat every HEARTBEAT_EVERY s until cancelled; a step done sooner writes no heartbeat."""
    while True:
        await asyncio.sleep(HEARTBEAT_EVERY)
        activity.heartbeat()
