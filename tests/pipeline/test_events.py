"""GET /api/v1/jobs/{id}/events on the real stack: statuses, progress from the provider's
`logs` webhooks, a last `done`, resumes by `Last-Event-ID`, and progress that only rises."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import sqlalchemy as sa
from temporalio.api.enums.v1 import EventType

from api.job_events import APPLICATION_NAME
from core.jobs import PREDICTION_SIGNAL
from devstack.fake_replicate.webhooks import sign
from tests.pipeline.conftest import read_row, submit, wait_for
from tests.pipeline.tenants import mint

# Long enough to run past the create's `Prefer: wait` (2 s), with a tqdm line every ~0.56 s.
SLOW = {"num_inference_steps": 8, "fake": {"latency": 5}}
TERMINAL = {"completed", "failed", "canceled"}
PROVIDER_AUTH = {"Authorization": "Bearer r8_test"}


@dataclass(frozen=True)
class Event:
    name: str
    id: int
    data: dict[str, Any]


@dataclass
class Stream:
    events: list[Event]
    comments: list[str]


def events_url(job_id: str) -> str:
    return f"/api/v1/jobs/{job_id}/events"


async def read_stream(
    client: httpx.AsyncClient,
    job_id: str,
    *,
    headers: dict[str, str] | None = None,
    until: str | None = None,
) -> Stream:
    """Read the job's stream until the server closes it (or, with `until`, until the first
    event of that name, or comment if `until` is ":"), parsing the SSE lines."""
    stream = Stream([], [])
    fields: dict[str, str] = {}
    async with client.stream("GET", events_url(job_id), headers=headers, timeout=60) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if line.startswith(":"):
                stream.comments.append(line)
                if until == ":":
                    return stream
            elif line:
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
            elif fields:
                event = Event(fields["event"], int(fields["id"]), json.loads(fields["data"]))
                stream.events.append(event)
                fields = {}
                if event.name == until:
                    return stream
    assert until is None, f"the stream closed before {until!r}"
    return stream


def assert_well_formed(events: list[Event], job_id: str) -> None:
    """Ids strictly increase, every event holds the job's document, and `done` ends it."""
    ids = [event.id for event in events]
    assert ids == sorted(set(ids)), ids
    assert all(event.data["id"] == job_id for event in events)
    assert [event.name for event in events].count("done") == 1
    assert events[-1].name == "done"
    assert events[-1].data["status"] in TERMINAL


async def test_a_stream_shows_statuses_rising_progress_then_done(api, sessions):
    job = await submit(api, "a heron by the river", parameters=SLOW)

    stream = await read_stream(api, job["id"])

    events = stream.events
    assert_well_formed(events, job["id"])
    statuses = [event.data["status"] for event in events if event.name == "status"]
    assert statuses == ["pending", "processing", "completed"]
    progress = [event.data["progress"] for event in events if event.name == "progress"]
    assert len(progress) >= 2, events
    assert progress == sorted(set(progress))
    assert all(0 < value < 1 for value in progress)
    names = [event.name for event in events]
    assert names[0] == "status"
    assert names[-2:] == ["status", "done"]
    assert set(names[2:-2]) == {"progress"}  # between processing and completed
    assert events[-1].id == events[-2].id + 1
    assert events[-1].data == events[-2].data
    assert events[-1].data["progress"] == 1.0
    row = await read_row(sessions, job["id"])
    assert row.status == "completed"
    assert row.progress == 1.0
    assert events[-2].id == 2 * row.event_seq


async def test_logs_webhooks_add_no_signal_to_the_workflow(api, provider, temporal, sessions):
    before = (await provider.get("/_fake/state")).json()["webhook_events"].get("logs", 0)
    job = await submit(api, "a kingfisher diving", parameters=SLOW)
    await wait_for(api, job["id"], TERMINAL)
    after = (await provider.get("/_fake/state")).json()["webhook_events"].get("logs", 0)

    history = await temporal.get_workflow_handle(job["id"]).fetch_history()
    signals = [
        event.workflow_execution_signaled_event_attributes.signal_name
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]
    assert after - before >= 5  # a `logs` webhook per tqdm line, 0.5 s apart at least
    # The `completed` webhook only (the `start` of the job's own prediction is no news).
    assert signals == [PREDICTION_SIGNAL]
    assert (await read_row(sessions, job["id"])).status == "completed"


async def test_last_event_id_resumes_after_that_event_without_repeats(api):
    job = await submit(api, "an egret in the reeds", parameters=SLOW)
    first = await read_stream(api, job["id"], until="progress")
    last_id = first.events[-1].id

    rest = await read_stream(api, job["id"], headers={"Last-Event-ID": str(last_id)})

    assert rest.events, "the resumed stream sent nothing"
    assert all(event.id > last_id for event in rest.events)
    together = first.events + rest.events
    assert_well_formed(together, job["id"])
    assert [event.data["status"] for event in together if event.name == "status"][-1] == (
        "completed"
    )
    # A client that saw the terminal status but not `done` gets `done` alone.
    again = await read_stream(api, job["id"], headers={"Last-Event-ID": str(rest.events[-2].id)})
    assert [event.name for event in again.events] == ["done"]


async def test_an_ended_job_sends_done_at_once_and_closes(api):
    job = await submit(api, "a finished sandpiper")
    document, _ = await wait_for(api, job["id"], TERMINAL)

    stream = await read_stream(api, job["id"])

    assert [event.name for event in stream.events] == ["done"]
    assert stream.events[0].id % 2 == 1
    done = stream.events[0].data
    assert done["status"] == document["status"] == "completed"
    assert done["completed_at"] == document["completed_at"]
    assert [o["sha256"] for o in done["outputs"]] == [o["sha256"] for o in document["outputs"]]


async def test_a_quiet_stream_keeps_alive_then_ends_with_the_cancel(api):
    # The create hangs 11 s: the job stays pending, and nothing is written to its row.
    quiet = {"fake": {"hang_create": 1, "hang_seconds": 11, "latency": 60}}
    job = await submit(api, "a still pond", parameters=quiet)

    before = await read_stream(api, job["id"], until=":")
    canceled = await api.delete(f"/api/v1/jobs/{job['id']}")
    after = await read_stream(api, job["id"], headers={"Last-Event-ID": "0"})

    assert before.comments == [": keep-alive"]
    assert [(event.name, event.data["status"]) for event in before.events] == [
        ("status", "pending")
    ]
    assert canceled.status_code == 202, canceled.text
    assert_well_formed(after.events, job["id"])
    assert after.events[0].id > 0
    assert after.events[-1].data["status"] == "canceled"


async def test_another_owners_stream_is_a_404_like_a_missing_job(api, sessions, settings):
    a, b = await mint(sessions), await mint(sessions)
    async with httpx.AsyncClient(base_url=settings.public_base_url, timeout=30) as anon:
        created = await anon.post(
            "/api/v1/generate", json={"prompt": "a's own plover"}, headers=a.headers
        )
        job_id = created.json()["id"]
        foreign = await anon.get(events_url(job_id), headers=b.headers)
        missing_id = str(uuid.uuid4())
        missing = await anon.get(events_url(missing_id), headers=b.headers)
        own = await read_stream(anon, job_id, headers=a.headers)

    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["detail"].replace(job_id, "<id>") == missing.json()["detail"].replace(
        missing_id, "<id>"
    )
    assert "plover" not in foreign.text
    assert own.events[-1].name == "done"


def signed_webhook(secret: str, body: bytes) -> dict[str, str]:
    msg_id, timestamp = f"msg_{uuid.uuid4().hex}", int(time.time())
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }


async def test_progress_in_the_row_only_rises_and_stops_at_the_end(api, provider, sessions):
    # Two steps over 30 s: the fake's own next `logs` webhook is 15 s away.
    job = await submit(
        api, "a slow crane", parameters={"num_inference_steps": 2, "fake": {"latency": 30}}
    )
    document, _ = await wait_for(api, job["id"], {"processing"})
    answer = await provider.get("/v1/webhooks/default/secret", headers=PROVIDER_AUTH)
    secret = answer.json()["key"]
    hook = f"/api/v1/webhooks/replicate/{job['id']}?attempt=1"

    async def logs_webhook(logs: str) -> tuple[float, int]:
        prediction = {"id": document["external_job_id"], "status": "processing", "logs": logs}
        body = json.dumps(prediction).encode()
        response = await api.post(hook, content=body, headers=signed_webhook(secret, body))
        assert response.status_code == 200, response.text
        row = await read_row(sessions, job["id"])
        return row.progress, row.event_seq

    risen = await logs_webhook(" 40%|████      | 4/10")
    lower = await logs_webhook(" 20%|██        | 2/10")
    other = await logs_webhook("7/10")
    canceled = await api.delete(f"/api/v1/jobs/{job['id']}")
    ended = await read_row(sessions, job["id"])
    late = await logs_webhook(" 90%|█████████ | 9/10")

    assert risen[0] == 0.4
    assert lower == risen  # never lowered, and no event for it
    assert other[0] == 0.7
    assert other[1] == risen[1] + 1
    assert canceled.status_code == 202, canceled.text
    assert ended.status == "canceled"
    assert late == (ended.progress, ended.event_seq)  # an ended row never changes


async def hub_connections(sessions: Any) -> list[int]:
    """The process ids of the API's LISTEN connections."""
    async with sessions() as session:
        found = await session.execute(
            sa.text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"),
            {"name": APPLICATION_NAME},
        )
        return list(found.scalars())


async def test_the_hub_listens_again_after_its_connection_is_killed(api, sessions):
    [killed] = await hub_connections(sessions)
    async with sessions() as session:
        await session.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": killed})
    pids = [killed]
    while pids in ([], [killed]):  # the pytest timeout bounds a hub that never comes back
        await asyncio.sleep(0.05)
        pids = await hub_connections(sessions)
    job = await submit(api, "a heron after the outage", parameters=SLOW)

    stream = await read_stream(api, job["id"])

    assert len(pids) == 1
    assert_well_formed(stream.events, job["id"])
    # Progress events while the job runs: notifications, not the keep-alive's re-read, which
    # comes only every 10 s, after this job has ended.
    assert len([event for event in stream.events if event.name == "progress"]) >= 2
