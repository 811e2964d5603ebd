"""Fault injection: random faults from the settings' rates, and the keyed ones a request asks for.

Faults happen before a request has any effect, except a hang, after which the request is
served normally, and the late faults: a truncated download, and a lost answer, where the create
takes effect but the client never hears of it (see `options.py` for the per-request keys and how
attempts are counted).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
from collections.abc import Callable

from devstack.fake_replicate.options import NO_OPTIONS, FakeOptions, Step
from devstack.fake_replicate.problems import ProblemError
from devstack.fake_replicate.settings import FakeReplicateSettings
from devstack.fake_replicate.state import Counters


def request_key(*parts: bytes | str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()


class Faults:
    def __init__(self, settings: FakeReplicateSettings, counters: Counters) -> None:
        self._settings = settings
        self._counters = counters
        self._attempts: dict[tuple[str, str], int] = {}
        self.rng = random.Random(settings.seed)

    def reset(self) -> None:
        self._attempts.clear()
        self.rng.seed(self._settings.seed)

    def _rolled(self, rate: float) -> bool:
        return rate > 0 and self.rng.random() < rate

    async def random_faults(self, step: str) -> None:
        """The settings' hang, rate-limit and 5xx rates, for any API request."""
        settings = self._settings
        if self._rolled(settings.hang_rate):
            self._counters.faults[f"{step}:hang"] += 1
            await asyncio.sleep(settings.hang_seconds)
        if self._rolled(settings.rate_limit_rate):
            raise self._rate_limited(step, settings.retry_after_seconds)
        if self._rolled(settings.error_rate_5xx):
            raise self._error(step, self.rng.choice((500, 503)))

    def random_truncate(self) -> bool:
        if self._rolled(self._settings.truncate_rate):
            self._counters.faults["download:truncate"] += 1
            return True
        return False

    def lose_answer(self, asked: bool) -> bool:
        """Whether this create's answer is lost: asked for by `fake`, or rolled by the rate."""
        if asked or self._rolled(self._settings.lose_answer_rate):
            self._counters.faults["create:lose_answer"] += 1
            return True
        return False

    async def keyed(self, step: Step, options: FakeOptions, key: str | Callable[[], str]) -> bool:
        """Apply the `fake` faults of this attempt.

        True means the step's late fault applies: truncate this download, or lose this create's
        answer (counted by the caller, which may still refuse the create before it happens).
        """
        if options is NO_OPTIONS or not options.touches(step):
            return False
        key = key if isinstance(key, str) else key()
        attempt = self._attempts.get((step, key), 0) + 1
        self._attempts[(step, key)] = attempt
        hang, limit, fail, status = options.plan(step)
        if attempt <= hang:
            self._counters.faults[f"{step}:hang"] += 1
            self._counters.asked_hangs[step] += 1
            await asyncio.sleep(
                self._settings.hang_seconds
                if options.hang_seconds is None
                else options.hang_seconds
            )
            return False
        attempt -= hang
        if attempt <= limit:
            retry_after = options.retry_after
            raise self._rate_limited(
                step, self._settings.retry_after_seconds if retry_after is None else retry_after
            )
        attempt -= limit
        if attempt <= fail:
            raise self._error(step, status)
        if attempt - fail <= options.late(step):
            if step == "download":
                self._counters.faults["download:truncate"] += 1
            return True
        return False

    def _rate_limited(self, step: str, retry_after: float) -> ProblemError:
        self._counters.faults[f"{step}:rate_limit"] += 1
        seconds = math.ceil(retry_after)
        return ProblemError(
            429,
            "Too many requests",
            f"Request was throttled. Expected available in {seconds} second(s).",
            slug="throttled",
            headers={"Retry-After": str(seconds)},
        )

    def _error(self, step: str, status: int) -> ProblemError:
        self._counters.faults[f"{step}:error"] += 1
        title = "Service unavailable" if status == 503 else "Injected error"
        return ProblemError(status, title, f"Fault injected by the fake ({step}).", slug="injected")
