"""Everything one fake server holds, reached by handlers through `RuntimeDep`."""

from __future__ import annotations

import random
from typing import Annotated, Any

from fastapi import Depends, Request

from devstack.fake_replicate.faults import Faults
from devstack.fake_replicate.prediction import Prediction
from devstack.fake_replicate.registry import Registry
from devstack.fake_replicate.settings import FakeReplicateSettings
from devstack.fake_replicate.state import Counters, Store
from devstack.fake_replicate.webhooks import WebhookSender


class Runtime:
    def __init__(self, settings: FakeReplicateSettings) -> None:
        self.settings = settings
        self.base_url = settings.base_url
        self.counters = Counters()
        self.store = Store(settings.max_predictions)
        self.registry = Registry()
        self.faults = Faults(settings, self.counters)
        self.webhooks = WebhookSender(settings, self.counters, self.render)
        # Latencies, outcomes and seeds; apart from the fault RNG so that one does not shift the other.
        self.rng = random.Random(None if settings.seed is None else settings.seed + 1)

    def render(
        self, prediction: Prediction, now: float | None = None, *, listed: bool = False
    ) -> dict[str, Any]:
        return prediction.to_json(self.base_url, now, listed=listed)

    def reset(self) -> None:
        self.store.clear()
        self.counters.reset()
        self.faults.reset()
        self.rng.seed(None if self.settings.seed is None else self.settings.seed + 1)


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.fake
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
