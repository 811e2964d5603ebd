"""The events of GET /api/v1/jobs/{id}/events: one LISTEN connection per process, fanned out.

The same connection wakes the process's workflow starter (`JobEventHub.also_listen`).

Every write of a job's status or progress notifies the `job_events` channel with the job's
id, in the write's own transaction (`core.repository`). Each API process keeps one asyncpg
connection LISTENing (`JobEventHub`, started in the app's lifespan), which wakes the streams
that follow that job; a woken stream re-reads the row and sends what changed. Nothing polls
per client but a safety re-read with each keep-alive, which also covers a notification lost
while the hub reconnects (it then wakes every stream, too).

Event ids derive from the row's `event_seq`, which each of those writes bumps: the `status`
or `progress` event of the row at sequence n has id 2n, the `done` after it 2n + 1. So ids
increase per job, and any process resumes a `Last-Event-ID` from the row alone, without
keeping a history of events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import asyncpg
from fastapi import Request
from sqlalchemy.engine import make_url

from api.deps import Services
from core.config import Settings
from core.jobs import JobStatus
from core.models import Job
from core.repository import JOB_EVENTS_CHANNEL, get_job
from core.schemas import job_document

log = logging.getLogger(__name__)
# A comment line at least this often (API.md: every 15 s at most), each with a safety re-read.
KEEPALIVE_SECONDS = 10.0
# How often the hub checks its connection is alive, and its reconnect backoff (seconds).
HEALTH_SECONDS = 15.0
RECONNECT_FIRST, RECONNECT_LONGEST = 0.5, 10.0
# The hub's connection as pg_stat_activity names it.
APPLICATION_NAME = "mediagen-job-events"


class JobEventHub:
    """One LISTEN connection of this process, fanned out to its streams by job id."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._channels: dict[str, Callable[[], None]] = {}
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> JobEventHub:
        """A hub on the settings' database (its SQLAlchemy URL as a plain libpq DSN)."""
        url = make_url(settings.database_url).set(drivername="postgresql")
        return cls(url.render_as_string(hide_password=False))

    def also_listen(self, channel: str, on_notify: Callable[[], None]) -> None:
        """Call `on_notify` at each NOTIFY on `channel` (the workflow starters' wake-up),
        and whenever the connection is (re)made, since notifications may have been missed.
        Called before `start`."""
        self._channels[channel] = on_notify

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="job-events-hub")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @contextlib.contextmanager
    def subscribe(self, job_id: str) -> Iterator[asyncio.Event]:
        """An event set whenever the job's row may have changed (cleared by the subscriber)."""
        woken = asyncio.Event()
        self._waiters.setdefault(job_id, set()).add(woken)
        try:
            yield woken
        finally:
            waiters = self._waiters.get(job_id, set())
            waiters.discard(woken)
            if not waiters:
                self._waiters.pop(job_id, None)

    def _on_notify(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            job_id = str(uuid.UUID(payload))
        except ValueError:
            return
        for woken in self._waiters.get(job_id, ()):
            woken.set()

    def _wake_all(self) -> None:
        for waiters in self._waiters.values():
            for woken in waiters:
                woken.set()

    async def _listen(self) -> None:
        """LISTEN for ever, reconnecting with backoff whenever the connection is lost."""
        delay = RECONNECT_FIRST
        while True:
            try:
                connection = await asyncpg.connect(
                    self._dsn, timeout=5, server_settings={"application_name": APPLICATION_NAME}
                )
            except Exception as exc:  # down, refusing, timing out: all mean "try again"
                log.warning("job events: cannot connect (%s); retrying", type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_LONGEST)
                continue
            delay = RECONNECT_FIRST
            try:
                await self._serve(connection)
            except Exception as exc:
                log.warning("job events: connection lost (%s); reconnecting", type(exc).__name__)
            finally:
                connection.terminate()
            self._wake_all()  # notifications may have been missed meanwhile
            await asyncio.sleep(RECONNECT_FIRST)  # never a busy loop of connections that die

    async def _serve(self, connection: asyncpg.Connection) -> None:
        """Listen on `connection` until it is lost (checked every HEALTH_SECONDS)."""
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _connection: lost.set())
        await connection.add_listener(JOB_EVENTS_CHANNEL, self._on_notify)
        for channel, on_notify in self._channels.items():
            await connection.add_listener(channel, lambda *_args, call=on_notify: call())
            on_notify()
        self._wake_all()  # anything written before this LISTEN began
        while not lost.is_set():
            try:
                await asyncio.wait_for(lost.wait(), HEALTH_SECONDS)
            except TimeoutError:  # a silent network can hide a lost connection: ask
                await connection.fetchval("SELECT 1", timeout=5)


def get_hub(request: Request) -> JobEventHub:
    hub: JobEventHub = request.app.state.job_events
    return hub


@dataclass
class Cursor:
    """Where a client is: its last event's id and the (status, progress) that it showed."""

    last_id: int | None
    shown: tuple[str, float] | None = None
    opened: bool = False

    def advance(self, row: Job) -> tuple[list[tuple[str, int]], bool]:
        """The events (name, id) that `row` calls for, and whether the stream ends with them.

        A job already ended when the stream opens sends `done` at once. A resumed client
        already has the state at its `last_id` (ids derive from the row): it gets only newer.
        """
        state, seq_id = (row.status, row.progress), 2 * row.event_seq
        terminal = JobStatus(row.status).terminal
        if terminal and not self.opened:
            return [("done", seq_id + 1)], True
        self.opened = True
        events: list[tuple[str, int]] = []
        if self.last_id is not None and seq_id <= self.last_id:
            self.shown = self.shown or state
        elif state != self.shown:
            same_status = self.shown is not None and self.shown[0] == row.status
            events.append(("progress" if same_status else "status", seq_id))
            self.last_id, self.shown = seq_id, state
        if terminal:
            events.append(("done", seq_id + 1))
        return events, terminal


def _event(name: str, event_id: int, data: str) -> str:
    return f"event: {name}\nid: {event_id}\ndata: {data}\n\n"


async def job_event_stream(
    services: Services, hub: JobEventHub, job_id: uuid.UUID, last_id: int | None
) -> AsyncIterator[str]:
    """The job's events as `text/event-stream` text, until `done` (the caller may see it)."""
    cursor = Cursor(last_id)
    with hub.subscribe(str(job_id)) as woken:
        while True:
            woken.clear()  # before the read: a write committed during it wakes the next one
            async with services.sessions() as session:
                row = await get_job(session, job_id, owner=None)
            if row is None:
                return
            events, ended = cursor.advance(row)
            if events:
                data = job_document(row, services.signer).model_dump_json()
                for name, event_id in events:
                    yield _event(name, event_id, data)
            if ended:
                return
            try:
                await asyncio.wait_for(woken.wait(), KEEPALIVE_SECONDS)
            except TimeoutError:
                yield ": keep-alive\n\n"
