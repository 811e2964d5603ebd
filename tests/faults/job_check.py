"""The checks of one finished job: API, row and workflow agree, and the bucket holds its objects."""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError

from core.image_jobs import GENERATED_PRESETS, PROCESSABLE_TYPES
from core.jobs import GenerateMediaResult
from core.keys import metadata_key
from core.models import Job
from tests.faults.bucket import object_digest, owner_of
from tests.faults.harness import FaultEnv, Planned
from tests.faults.outcome import TERMINAL, Outcome

WORKFLOW_ENDS = {
    WorkflowExecutionStatus.COMPLETED: "completed",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.CANCELED: "canceled",
}


async def retried_steps(handle: WorkflowHandle[Any, Any]) -> str:
    """The job's activities that took more than one attempt, to tell where a retry came from."""
    scheduled: dict[int, str] = {}
    retried = []
    async for event in handle.fetch_history_events():
        if event.HasField("activity_task_scheduled_event_attributes"):
            scheduled[event.event_id] = (
                event.activity_task_scheduled_event_attributes.activity_type.name
            )
        if event.HasField("activity_task_started_event_attributes"):
            started = event.activity_task_started_event_attributes
            if started.attempt > 1:
                name = scheduled.get(started.scheduled_event_id, "?")
                retried.append(f"{name} attempt {started.attempt} ({started.last_failure.message})")
    return "retried: " + (", ".join(retried) or "no activity")


class JobChecker:
    """The checks of one job; each finding goes to the outcome."""

    def __init__(self, env: FaultEnv, outcome: Outcome, job: Planned, may_fail: set[str]):
        self.env, self.outcome, self.job, self.may_fail = env, outcome, job, may_fail
        assert job.job_id is not None
        self.id = job.job_id

    def problem(self, text: str) -> None:
        self.outcome.problems.append(f"{self.id} ({self.job.prompt}): {text}")

    def lost(self, text: str) -> None:
        self.outcome.lost.append(f"{self.id} ({self.job.prompt}): {text}")

    async def check(self, row: Job | None, keys: list[str]) -> None:
        if row is None:
            self.lost("no row")
            return
        if row.status not in TERMINAL:
            self.lost(f"still {row.status}")
            return
        response = await self.env.api.get(f"/api/v1/status/{self.id}")
        document = response.json()
        if response.status_code != 200 or document["status"] != row.status:
            self.problem(f"API answered {response.status_code} {document} for a {row.status} row")
            return
        handle = self.env.temporal.get_workflow_handle(self.id, result_type=GenerateMediaResult)
        result: GenerateMediaResult | None = None
        failure: BaseException | None = None
        try:
            result = await asyncio.wait_for(handle.result(), 60)
        except WorkflowFailureError as exc:
            failure = exc.cause
        except TimeoutError:
            self.lost(f"row {row.status} but the workflow still runs")
            return
        status = (await handle.describe()).status
        ended = WORKFLOW_ENDS.get(status) if status is not None else None
        if ended != row.status:
            self.lost(f"row {row.status}, workflow {ended}")
            return
        if row.status == "completed" and result is not None:
            await self._completed(row, document, result, keys)
        elif row.status == "failed":
            self._failed(row, failure, keys)
        else:
            self.lost(f"ended {row.status}, meant to be {self.job.expect}")

    async def _completed(
        self, row: Job, document: dict[str, Any], result: GenerateMediaResult, keys: list[str]
    ) -> None:
        if self.job.expect != "completed":
            self.lost(f"completed, meant to be {self.job.expect}")
            return
        self.outcome.completed += 1
        self.outcome.retries += row.retry_count
        from_result = [o.model_dump(exclude={"attempt"}) for o in result.outputs]
        if row.outputs != from_result:
            self.problem(f"row outputs {row.outputs} != workflow result {from_result}")
        # The API signs each url afresh (`?exp=…&sig=…`): the path is the row's.
        public = [
            {k: o[k] for k in ("url", "content_type", "file_size", "sha256")} for o in row.outputs
        ]
        shown = [{**o, "url": o["url"].partition("?")[0]} for o in document["outputs"]]
        if shown != public:
            self.problem(f"API outputs {document['outputs']} != row {public}")
        if len(result.outputs) != self.job.outputs:
            self.problem(f"{len(result.outputs)} outputs, asked for {self.job.outputs}")
        if not (row.external_job_id == result.external_job_id == document["external_job_id"]):
            self.problem(f"prediction ids differ: {row.external_job_id}, {result.external_job_id}")
        if row.retry_count != result.retry_count or document["retry_count"] != row.retry_count:
            retried = await retried_steps(self.env.temporal.get_workflow_handle(self.id))
            self.problem(
                f"retry_count: row {row.retry_count}, workflow {result.retry_count}; {retried}"
            )
        if row.file_size != result.outputs[0].file_size:
            self.problem(f"file_size {row.file_size} != {result.outputs[0].file_size}")
        self._variants(row, result)
        expected = {o.key: (o.sha256, o.file_size) for o in result.outputs}
        expected |= {v.key: (v.sha256, v.file_size) for v in result.variants}
        self._bucket(keys, {*expected, metadata_key(self.id)})
        for key, (sha256, file_size) in expected.items():
            if key in keys:
                digest, size = await object_digest(self.env.storage, key)
                if (digest, size) != (sha256, file_size):
                    self.problem(f"{key} holds {size} bytes {digest[:12]}, row says {file_size}")
        if metadata_key(self.id) in keys:
            metadata = await self.env.storage.get_json(metadata_key(self.id))
            if [o["sha256"] for o in metadata["outputs"]] != [o.sha256 for o in result.outputs]:
                self.problem("the metadata document names other outputs")
            if metadata["external_job_id"] != result.external_job_id:
                self.problem("the metadata document names another prediction")
            if metadata.get("variants") != [
                v.model_dump(mode="json", exclude={"attempt"}) for v in result.variants
            ]:
                self.problem("the metadata document lists other variants")

    def _variants(self, row: Job, result: GenerateMediaResult) -> None:
        """Every image output (not, say, a blob a test made large) has each of its variants,
        once, as the workflow made them."""
        made = [v.model_dump(exclude={"attempt"}) for v in result.variants]
        if row.variants != made:
            self.problem(f"row variants {row.variants} != workflow result {made}")
        if row.variant_failures:
            self.problem(f"variants failed: {row.variant_failures}")
        images = [i for i, o in enumerate(result.outputs) if o.content_type in PROCESSABLE_TYPES]
        wanted = {(index, name) for index in images for name in GENERATED_PRESETS}
        if sorted((v.output, v.name) for v in result.variants) != sorted(wanted):
            self.problem(f"variants {[(v.output, v.name) for v in result.variants]}")

    def _failed(self, row: Job, failure: BaseException | None, keys: list[str]) -> None:
        if not isinstance(failure, ApplicationError):
            self.lost(f"row failed, workflow failure {failure!r}")
            return
        # A provider that keeps failing may end any job first, one meant to fail included.
        planned = {self.job.failure_type} if self.job.expect == "failed" else set()
        allowed = planned | self.may_fail
        if failure.type not in allowed:
            self.lost(f"failed with {failure.type}: {failure.message} (allowed: {allowed})")
            return
        self.outcome.failed_as_expected += 1
        error = row.error or {}
        if (error.get("type"), error.get("message")) != (failure.type, failure.message):
            self.problem(f"row error {error} != workflow failure {failure.type}: {failure.message}")
        self._bucket(keys, set())

    def _bucket(self, keys: list[str], expected: set[str]) -> None:
        indices = {owner_of(key)[1] for key in expected}
        for key in keys:
            if key in expected:
                continue
            if owner_of(key)[1] in indices:
                self.outcome.duplicates.append(f"{self.id}: {key} beside {sorted(expected)}")
            else:
                self.outcome.orphans.append(f"{self.id}: {key} (expected {sorted(expected)})")
        for key in sorted(expected - set(keys)):
            self.problem(f"{key} missing from the bucket")
