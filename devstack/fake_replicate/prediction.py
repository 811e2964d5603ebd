"""A prediction whose state is a pure function of the clock.

Nothing advances a prediction: its status, logs and output at any instant follow from when it
was created, its drawn latency and (if any) when it was canceled or its `Cancel-After` deadline.
It is `starting` for the first 10% of its latency, `processing` until the latency has passed,
then its drawn outcome. A deadline that comes first ends it `canceled`, or `aborted` if it had
not started yet (Replicate's rule: an aborted prediction never ran, so it is not billed).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from devstack.fake_replicate.options import FakeOptions
from devstack.fake_replicate.validation import WEBHOOK_EVENTS

STARTING_FRACTION = 0.1
# Output URLs of `fake.hostile` options that are not files of the fake at all.
HOSTILE_URLS = {
    "relative": "account",
    "api": "{base}/v1/account",
    "metadata": "http://169.254.169.254/latest/meta-data/",
    "private": "http://10.0.0.1/x.png",
}
TERMINAL = frozenset({"succeeded", "failed", "canceled", "aborted"})
BAR_WIDTH = 10


def iso(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(slots=True, eq=False)
class Prediction:
    id: str
    seq: int
    model: str
    version: str
    input: dict[str, Any]
    options: FakeOptions
    seed: int
    num_outputs: int
    steps: int
    ext: str
    latency: float
    outcome: str
    error: str | None
    created_wall: float
    created_mono: float
    webhook: str | None = None
    webhook_events: frozenset[str] = frozenset()
    canceled_mono: float | None = None
    # When `Cancel-After` ends the prediction (monotonic seconds), if it was given.
    deadline_mono: float | None = None
    timers: list[asyncio.TimerHandle] = field(default_factory=list)
    waiter: asyncio.Event | None = None

    @property
    def started_mono(self) -> float:
        return self.created_mono + self.latency * STARTING_FRACTION

    @property
    def end_mono(self) -> float:
        """When the prediction reaches (or reached) its terminal status."""
        end = self.created_mono + self.latency
        for stop in (self.canceled_mono, self.deadline_mono):
            if stop is not None and stop < end:
                end = stop
        return end

    def status(self, now: float | None = None) -> str:
        now = time.monotonic() if now is None else now
        end = self.end_mono
        if now < end:
            return "starting" if now < self.started_mono else "processing"
        if end == self.canceled_mono:
            return "canceled"
        if end == self.deadline_mono:
            return "aborted" if end < self.started_mono else "canceled"
        return self.outcome

    def is_terminal(self, now: float | None = None) -> bool:
        return self.status(now) in TERMINAL

    def wall(self, mono: float) -> float:
        return self.created_wall + (mono - self.created_mono)

    def logs(self, now: float) -> str:
        """`Using seed: N` then one tqdm-like line per finished step, as of `now`."""
        now = min(now, self.end_mono)
        if now < self.started_mono:
            return ""
        run = max(self.created_mono + self.latency - self.started_mono, 1e-9)
        elapsed = now - self.started_mono
        done = min(self.steps, int(self.steps * elapsed / run + 1e-9))
        rate = self.steps / run
        lines = [f"Using seed: {self.seed}"]
        for step in range(done + 1):
            spent, left = step / rate, (self.steps - step) / rate
            filled = BAR_WIDTH * step // self.steps
            bar = "█" * filled + " " * (BAR_WIDTH - filled)
            lines.append(
                f"{100 * step // self.steps:3d}%|{bar}| {step}/{self.steps} "
                f"[{_clock(spent)}<{_clock(left)}, {rate:5.2f}it/s]"
            )
        return "\n".join(lines) + "\n"

    def next_step_mono(self, now: float) -> float | None:
        """When the first step not done at `now` is done (its tqdm line joins the logs);
        None if that is the last step, which is done as the prediction ends."""
        each = max(self.created_mono + self.latency - self.started_mono, 1e-9) / self.steps
        done = int(max(now - self.started_mono, 0.0) / each + 1e-9)
        return None if done + 1 >= self.steps else self.started_mono + (done + 1) * each

    def output_names(self) -> list[str]:
        return [f"out-{i}.{self.ext}" for i in range(self.num_outputs)]

    def output_urls(self, base_url: str) -> list[str]:
        """Where the outputs are: the fake's delivery route (outside its `/v1` API, as
        replicate.delivery is apart from api.replicate.com), or what `hostile` asks for."""
        hostile = HOSTILE_URLS.get(self.options.hostile or "")
        if hostile is not None:
            return [hostile.format(base=base_url) for _ in self.output_names()]
        query = "?redirect=1" if (self.options.hostile or "").startswith("redirect_") else ""
        return [f"{base_url}/delivery/{self.id}/{name}{query}" for name in self.output_names()]

    def webhook_json(self) -> dict[str, Any]:
        """`webhook` and `webhook_events_filter` as given at create (filter in canonical order)."""
        if self.webhook is None:
            return {}
        events = [event for event in WEBHOOK_EVENTS if event in self.webhook_events]
        return {"webhook": self.webhook, "webhook_events_filter": events}

    def to_json(
        self, base_url: str, now: float | None = None, *, listed: bool = False
    ) -> dict[str, Any]:
        """The prediction as Replicate's API shows it at `now` (monotonic seconds).

        A list item (`listed`) leaves out the webhook fields, as Replicate's list does.
        """
        now = time.monotonic() if now is None else now
        status = self.status(now)
        started = (
            self.started_mono
            if now >= self.started_mono and self.started_mono < self.end_mono
            else None
        )
        terminal = status in TERMINAL
        metrics: dict[str, Any] = {}
        if status in ("succeeded", "failed"):
            metrics = {
                "predict_time": round(self.latency * (1 - STARTING_FRACTION), 6),
                "total_time": round(self.latency, 6),
            }
        if status == "succeeded":
            metrics["image_count"] = self.num_outputs
        api = f"{base_url}/v1/predictions/{self.id}"
        return {
            "id": self.id,
            "model": self.model,
            "version": self.version,
            "input": self.input,
            "logs": self.logs(now),
            "output": self.output_urls(base_url) if status == "succeeded" else None,
            "data_removed": False,
            "error": self.error if status == "failed" else None,
            "status": status,
            "source": "api",
            "created_at": iso(self.created_wall),
            "started_at": iso(self.wall(started)) if started is not None else None,
            "completed_at": iso(self.wall(self.end_mono)) if terminal else None,
            "urls": {
                "get": api,
                "cancel": f"{api}/cancel",
                "stream": f"{api}/stream",
                "web": f"{base_url}/_fake/predictions/{self.id}",
            },
            "metrics": metrics,
            **({} if listed else self.webhook_json()),
        }


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 60:02d}:{whole % 60:02d}"
