"""PROVIDER_LOGS_PROGRESS: off, the create asks for no `logs` webhooks (bench progress)."""

import json

import httpx
import pytest

from core.config import Settings
from core.replicate import ReplicateClient


@pytest.mark.parametrize(
    ("value", "events"),
    [("true", ["start", "logs", "completed"]), ("false", ["start", "completed"])],
)
async def test_the_setting_decides_whether_logs_webhooks_are_asked_for(monkeypatch, value, events):
    monkeypatch.setenv("PROVIDER_LOGS_PROGRESS", value)
    settings = Settings(_env_file=None)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"id": "p1", "status": "starting"})

    http = ReplicateClient.build_http("https://api.example.test/v1", "r8_token")
    http._transport = httpx.MockTransport(handler)
    client = ReplicateClient(http, logs_events=settings.provider_logs_progress)
    await client.create_prediction(model="o/n", input={}, webhook="https://hook.test/x")

    assert json.loads(seen[0].content)["webhook_events_filter"] == events
