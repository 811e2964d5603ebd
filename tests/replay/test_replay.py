"""Every recorded history replays against today's workflow code, with the project's converter.

A change to GenerateMediaWorkflow or ProcessImageWorkflow that would break a job already in flight (a new activity
in the middle, a reordered step) makes this fail; guard such changes with
`workflow.patched(...)` and record new histories (`make record-histories`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from core.temporal import DATA_CONVERTER
from tests.replay.scenarios import CHILD_SCENARIOS, SCENARIOS, UPLOAD_SCENARIOS
from workflows.generation import GenerateMediaWorkflow
from workflows.processing import ProcessImageWorkflow
from workflows.reconcile import ReconcileJobsWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*/*.json"))
TEXTS = {f"{path.parent.name}/{path.stem}": path.read_text() for path in HISTORIES}


def test_every_path_of_the_workflows_has_a_history():
    recorded = {path.stem for path in HISTORIES}
    assert recorded >= {f"GenerateMedia-{scenario.name}" for scenario in SCENARIOS}
    assert recorded >= {f"ProcessImage-{scenario.name}" for scenario in UPLOAD_SCENARIOS}
    assert recorded >= {f"ProcessImage-child-{name}" for name in CHILD_SCENARIOS}


@pytest.mark.parametrize("name", sorted(TEXTS))
async def test_history_replays(name: str):
    history = WorkflowHistory.from_json(name, TEXTS[name])
    replayer = Replayer(
        workflows=[GenerateMediaWorkflow, ProcessImageWorkflow, ReconcileJobsWorkflow],
        data_converter=DATA_CONVERTER,
    )

    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)

    assert result.replay_failure is None, f"{name}: {result.replay_failure}"
