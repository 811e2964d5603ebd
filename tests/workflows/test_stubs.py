"""The stubs stand in for every activity the product's worker registers, by the same names."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from temporalio import activity

from activities.images import ImageActivities
from activities.jobs import JobActivities
from tests.workflows.harness import FakeProvider
from worker.main import activity_methods


def names(activities: Sequence[Callable[..., Any]]) -> set[str | None]:
    return {activity._Definition.must_from_callable(fn).name for fn in activities}


def test_the_stubs_register_the_workers_activity_names():
    jobs = JobActivities.__new__(JobActivities)  # bound methods without clients
    images = ImageActivities.__new__(ImageActivities)

    assert names(FakeProvider(created=[]).activities()) == names(activity_methods(jobs, images))
