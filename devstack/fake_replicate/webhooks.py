"""Webhook delivery, signed the way Replicate signs them (Standard Webhooks).

Events are driven by timers set at create (`loop.call_later`), never by someone polling, so a
webhook fires when its prediction reaches the state, whether or not anyone is looking. Each
delivery is its own task on one shared `httpx.AsyncClient`, retried with exponential backoff;
request handling never waits for it.

At most `MAX_IN_FLIGHT` deliveries reach httpx at once; the rest queue on a cheap semaphore.
httpcore's pool rescans its queued requests and connections (quadratically in connections)
whenever a request comes or goes: thousands queued inside it (5,000 predictions x 4 events)
took the whole CPU, and even 64 connections cost ~5 ms of CPU per post against ~1.5 ms at 8.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from devstack.fake_replicate.prediction import Prediction
from devstack.fake_replicate.settings import FakeReplicateSettings
from devstack.fake_replicate.state import Counters

Render = Callable[[Prediction, float], dict[str, Any]]
MAX_IN_FLIGHT = 8
# Replicate sends `logs` webhooks as the logs grow, at most this often (seconds).
LOGS_EVERY = 0.5


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256>` of `{id}.{timestamp}.{body}` keyed by the secret after `whsec_`."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


class WebhookSender:
    def __init__(self, settings: FakeReplicateSettings, counters: Counters, render: Render) -> None:
        self._settings = settings
        self._counters = counters
        self._render = render
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._gate = asyncio.Semaphore(MAX_IN_FLIGHT)

    async def start(self) -> None:
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(10.0, pool=60.0),
            limits=httpx.Limits(
                max_connections=MAX_IN_FLIGHT, max_keepalive_connections=MAX_IN_FLIGHT
            ),
        )

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    def track(self, prediction: Prediction) -> None:
        """Send `start` now and arm the timers of the later events (call once, at create)."""
        if prediction.webhook is None:
            return
        loop = asyncio.get_running_loop()
        self._emit(prediction, "start", time.monotonic())
        delay_start = prediction.started_mono - time.monotonic()
        delay_end = prediction.end_mono - time.monotonic()
        prediction.timers = [
            loop.call_later(
                max(0.0, delay_start), self._on_logs, prediction, prediction.started_mono
            ),
            loop.call_later(max(0.0, delay_end), self.finished, prediction),
        ]

    def _on_logs(self, prediction: Prediction, due: float) -> None:
        """A `logs` webhook of the logs as of `due` (a timer may fire a little early), and the
        next one armed: at the next step's tqdm line, no sooner than LOGS_EVERY, while the
        prediction runs."""
        if "logs" not in prediction.webhook_events:
            return
        now = max(time.monotonic(), due)
        self._emit(prediction, "logs", now)
        step = prediction.next_step_mono(now)
        at = None if step is None else max(step, now + LOGS_EVERY)
        if at is not None and at < prediction.end_mono:
            delay = max(0.0, at - time.monotonic())
            timer = asyncio.get_running_loop().call_later(delay, self._on_logs, prediction, at)
            prediction.timers.append(timer)

    def finished(self, prediction: Prediction) -> None:
        """The prediction just reached its terminal status (by its timer or by a cancel)."""
        for timer in prediction.timers:
            timer.cancel()
        prediction.timers = []
        now = max(time.monotonic(), prediction.end_mono)
        if prediction.status(now) == "succeeded":
            self._emit(prediction, "output", now)
        self._emit(prediction, "completed", now)

    def _emit(self, prediction: Prediction, event: str, now: float) -> None:
        if prediction.webhook is None or event not in prediction.webhook_events:
            return
        self._counters.webhook_events[event] += 1
        body = orjson.dumps(self._render(prediction, now))
        task = asyncio.create_task(self._deliver(prediction.webhook, body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, url: str, body: bytes) -> None:
        msg_id = "msg_" + secrets.token_hex(13)
        settings = self._settings
        for attempt in range(settings.webhook_max_attempts):
            if attempt:
                self._counters.webhooks["retried"] += 1
                await asyncio.sleep(settings.webhook_backoff_seconds * 2 ** (attempt - 1))
            async with self._gate:
                if await self._post(url, msg_id, body):
                    self._counters.webhooks["sent"] += 1
                    return
        self._counters.webhooks["failed"] += 1

    async def _post(self, url: str, msg_id: str, body: bytes) -> bool:
        """One attempt, signed at send time so that a queued delivery's timestamp is fresh."""
        assert self._client is not None, "WebhookSender.start() was not awaited"
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "user-agent": "fake-replicate-webhook/1.0",
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(self._settings.webhook_secret, msg_id, timestamp, body),
        }
        self._counters.webhooks["attempts"] += 1
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except (httpx.HTTPError, OSError, AttributeError):
            # A receiver that goes away mid-call can also break inside the transport
            # (httpcore on uvloop: `getpeername` of a socket already gone): a failed attempt.
            return False
        return response.is_success
