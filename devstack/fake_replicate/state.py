"""The in-memory predictions store and the counters that `GET /_fake/state` shows tests."""

from __future__ import annotations

import base64
import itertools
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from typing import Any

from devstack.fake_replicate.prediction import Prediction


@dataclass
class Counters:
    """What the fake has seen since start or the last `POST /_fake/reset`."""

    creates: Counter[str] = field(
        default_factory=Counter
    )  # by route: models/deployments/predictions
    runs_by_model: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)  # by HTTP status of refused creates
    gets: int = 0
    lists: int = 0
    cancels: int = 0
    waits: int = 0
    streams: int = 0
    downloads: int = 0
    download_bytes: int = 0
    faults: Counter[str] = field(default_factory=Counter)  # "step:kind", e.g. "create:rate_limit"
    # The hangs a request's `fake` options asked for (counted in `faults` too), apart from the
    # random ones of the settings' rates.
    asked_hangs: Counter[str] = field(default_factory=Counter)  # by step
    webhooks: Counter[str] = field(default_factory=Counter)  # attempts/sent/retried/failed
    webhook_events: Counter[str] = field(default_factory=Counter)  # deliveries made, by event
    # Requests that carried `Authorization` to anything but the `/v1` API (a leaked token).
    token_outside_api: int = 0

    def reset(self) -> None:
        """Zero everything in place: the fault injector and webhook sender hold this object."""
        for f in fields(self):
            setattr(self, f.name, Counter() if isinstance(getattr(self, f.name), Counter) else 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "creates": {"total": self.creates.total(), **self.creates},
            "runs_by_model": dict(self.runs_by_model),
            "rejected": dict(self.rejected),
            "gets": self.gets,
            "lists": self.lists,
            "cancels": self.cancels,
            "waits": self.waits,
            "streams": self.streams,
            "downloads": self.downloads,
            "download_bytes": self.download_bytes,
            "faults": {"total": self.faults.total(), **self.faults},
            "asked_hangs": dict(self.asked_hangs),
            "webhooks": {k: self.webhooks[k] for k in ("attempts", "sent", "retried", "failed")},
            "webhook_events": dict(self.webhook_events),
            "token_outside_api": self.token_outside_api,
        }


def _cursor(kind: str, seq: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{seq}".encode()).decode().rstrip("=")


def parse_cursor(token: str) -> tuple[str, int] | None:
    try:
        kind, _, seq = (
            base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode().partition(":")
        )
        return (kind, int(seq)) if kind in ("before", "after") else None
    except ValueError:
        return None


@dataclass
class Page:
    results: list[Prediction]
    next: str | None
    previous: str | None


class Store:
    """Predictions by id in creation order; past `limit`, the oldest are forgotten."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._items: dict[str, Prediction] = {}
        self._seq = 0

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Prediction]:
        return iter(self._items.values())

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def add(self, prediction: Prediction) -> None:
        self._items[prediction.id] = prediction
        while len(self._items) > self._limit:
            oldest = self._items.pop(next(iter(self._items)))
            for timer in oldest.timers:
                timer.cancel()

    def get(self, prediction_id: str) -> Prediction | None:
        return self._items.get(prediction_id)

    def clear(self) -> None:
        for prediction in self._items.values():
            for timer in prediction.timers:
                timer.cancel()
        self._items.clear()

    def page(
        self,
        cursor: tuple[str, int] | None,
        size: int,
        keep: Callable[[Prediction], bool] = lambda _: True,
    ) -> Page:
        """Newest first, of the predictions `keep` accepts.

        `next`/`previous` are opaque cursor tokens, or None when no accepted prediction lies
        beyond the page on that side.
        """
        items = self._items.values()
        if cursor is not None and cursor[0] == "after":
            newer = (p for p in items if p.seq > cursor[1] and keep(p))
            results = list(itertools.islice(newer, size))[::-1]
        else:
            bound = cursor[1] if cursor is not None else self._seq + 1
            older = (p for p in reversed(items) if p.seq < bound and keep(p))
            results = list(itertools.islice(older, size))
        if not results:
            return Page([], None, None)
        newest, oldest = results[0].seq, results[-1].seq
        # Items are in seq order, so each side ends where the page begins.
        more_older = any(map(keep, itertools.takewhile(lambda p: p.seq < oldest, items)))
        more_newer = any(map(keep, itertools.takewhile(lambda p: p.seq > newest, reversed(items))))
        return Page(
            results,
            _cursor("before", oldest) if more_older else None,
            _cursor("after", newest) if more_newer else None,
        )

    def status_counts(self) -> dict[str, int]:
        now = time.monotonic()
        return dict(Counter(p.status(now) for p in self._items.values()))

    def running(self) -> int:
        """Predictions not yet terminal (starting or processing) right now."""
        now = time.monotonic()
        return sum(not p.is_terminal(now) for p in self._items.values())

    def by_webhook(self) -> dict[str, dict[str, int]]:
        """Predictions created and still running per webhook URL (a job's, for our service)."""
        now = time.monotonic()
        groups: dict[str, dict[str, int]] = {}
        for p in self._items.values():
            if p.webhook is not None:
                group = groups.setdefault(p.webhook, {"created": 0, "running": 0})
                group["created"] += 1
                group["running"] += not p.is_terminal(now)
        return groups
