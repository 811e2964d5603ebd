"""Turning a validated create into a stored, timed prediction; `Prefer: wait`, `Cancel-After`."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import time
from typing import Any

from devstack.fake_replicate.options import FakeOptions
from devstack.fake_replicate.prediction import Prediction
from devstack.fake_replicate.problems import ProblemError
from devstack.fake_replicate.registry import ModelInfo
from devstack.fake_replicate.runtime import Runtime
from devstack.fake_replicate.validation import WEBHOOK_EVENTS

NSFW_MARKER = "[nsfw]"
NSFW_ERROR = "NSFW content detected. Try running it again, or try a different prompt."
RANDOM_FAILURE = "Prediction failed: CUDA error: an illegal memory access was encountered"
PREFER_WAIT = re.compile(r"(?:^|[;,]\s*)wait(?:=(\d+))?\s*(?:$|[;,])")
MAX_WAIT = 60
# Replicate's `Cancel-After`: whole seconds, or h/m/s parts in that order ("90s", "1h30m45s").
CANCEL_AFTER = re.compile(r"^(?:(\d+)|(?=\d)(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?)$")


def new_id() -> str:
    """26 lowercase base32 characters, like Replicate's ids."""
    return base64.b32encode(os.urandom(17)).decode().lower()[:26]


def _outcome(
    runtime: Runtime, data: dict[str, Any], options: FakeOptions
) -> tuple[str, str | None]:
    if isinstance(data.get("fake_error"), str):
        return "failed", data["fake_error"]
    if NSFW_MARKER in str(data.get("prompt", "")).lower():
        return "failed", NSFW_ERROR
    if options.outcome is not None:
        error = (
            (options.error or "Prediction failed (fake)") if options.outcome == "failed" else None
        )
        return options.outcome, error
    if runtime.settings.failure_rate and runtime.rng.random() < runtime.settings.failure_rate:
        return "failed", RANDOM_FAILURE
    return "succeeded", None


def build_prediction(
    runtime: Runtime,
    model: ModelInfo,
    body: dict[str, Any],
    options: FakeOptions,
    model_field: str,
    cancel_after: float | None = None,
) -> Prediction:
    data: dict[str, Any] = body["input"]
    settings = runtime.settings
    latency = options.latency
    if latency is None:
        latency = runtime.rng.uniform(settings.latency_min, settings.latency_max)
    seed = data.get("seed")
    if not isinstance(seed, int):
        seed = runtime.rng.randrange(1 << 16)
    outcome, error = _outcome(runtime, data, options)
    if options.output_bytes is not None:
        ext = "bin"
    elif options.hostile in ("html", "svg"):
        ext = options.hostile
    else:
        ext = str(data.get("output_format") or model.default_format)
    webhook = body.get("webhook")
    events = frozenset(body.get("webhook_events_filter") or WEBHOOK_EVENTS)
    if webhook is None and body.get("webhook_completed"):
        webhook, events = body["webhook_completed"], frozenset({"completed"})
    created_mono = time.monotonic()
    return Prediction(
        id=new_id(),
        seq=runtime.store.next_seq(),
        model=model_field,
        version=model.version_id,
        input=data,
        options=options,
        seed=seed,
        num_outputs=int(data.get("num_outputs", 1)),
        steps=int(data.get("num_inference_steps", model.default_steps)),
        ext=ext,
        latency=latency,
        outcome=outcome,
        error=error,
        created_wall=time.time(),
        created_mono=created_mono,
        webhook=webhook,
        webhook_events=events,
        deadline_mono=None if cancel_after is None else created_mono + cancel_after,
    )


def prefer_wait(header: str | None) -> float | None:
    """Seconds asked for by `Prefer: wait` (60) or `Prefer: wait=N` (clamped to 1-60)."""
    if not header:
        return None
    match = PREFER_WAIT.search(header.strip().lower())
    if match is None:
        return None
    return float(min(MAX_WAIT, max(1, int(match.group(1) or MAX_WAIT))))


def cancel_after(header: str | None, minimum: float) -> float | None:
    """Seconds of a `Cancel-After` header (None without one); a 400 if malformed or too short."""
    if header is None:
        return None
    match = CANCEL_AFTER.match(header.strip().lower())
    if match is None:
        raise ProblemError(
            400,
            "Bad request",
            f"Invalid Cancel-After {header!r}: use a duration like 30s, 5m, 1h30m or 90",
        )
    seconds, hours, minutes, secs = (int(part or 0) for part in match.groups())
    total = float(seconds + 3600 * hours + 60 * minutes + secs)
    if total < minimum:
        raise ProblemError(400, "Bad request", f"Cancel-After must be at least {minimum:g} seconds")
    return total


async def wait_until_done(prediction: Prediction, seconds: float) -> None:
    """Return when the prediction is terminal (a cancel wakes us) or `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while True:
        now = time.monotonic()
        if prediction.is_terminal(now) or now >= deadline:
            return
        if prediction.waiter is None:
            prediction.waiter = asyncio.Event()
        try:
            async with asyncio.timeout(min(prediction.end_mono, deadline) - now):
                await prediction.waiter.wait()
        except TimeoutError:
            pass
