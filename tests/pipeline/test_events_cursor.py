"""api.job_events.Cursor: which events a row calls for (pure: no stack needed)."""

from __future__ import annotations

from api.job_events import Cursor
from core.models import Job


def row(status: str, progress: float, seq: int) -> Job:
    return Job(prompt="p", model_name="m", status=status, progress=progress, event_seq=seq)


def test_a_new_stream_walks_statuses_and_progress_then_done() -> None:
    cursor = Cursor(last_id=None)
    steps = [
        cursor.advance(row("pending", 0.0, 0)),
        cursor.advance(row("pending", 0.0, 0)),  # woken with nothing new: nothing sent
        cursor.advance(row("processing", 0.0, 1)),
        cursor.advance(row("processing", 0.5, 2)),
        cursor.advance(row("processing", 0.5, 3)),  # a write that shows nothing new
        cursor.advance(row("completed", 1.0, 4)),
    ]
    assert steps == [
        ([("status", 0)], False),
        ([], False),
        ([("status", 2)], False),
        ([("progress", 4)], False),
        ([], False),
        ([("status", 8), ("done", 9)], True),
    ]


def test_an_ended_job_sends_done_alone() -> None:
    assert Cursor(last_id=None).advance(row("failed", 0.3, 5)) == ([("done", 11)], True)
    assert Cursor(last_id=10).advance(row("failed", 0.3, 5)) == ([("done", 11)], True)


def test_a_resume_sends_only_what_is_newer_than_its_id() -> None:
    cursor = Cursor(last_id=4)
    assert cursor.advance(row("processing", 0.5, 2)) == ([], False)
    assert cursor.advance(row("processing", 0.75, 3)) == ([("progress", 6)], False)


def test_a_resume_behind_the_row_gets_its_state_as_a_status() -> None:
    cursor = Cursor(last_id=2)
    assert cursor.advance(row("processing", 0.5, 2)) == ([("status", 4)], False)
