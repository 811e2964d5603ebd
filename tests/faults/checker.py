"""The verdict of a fault scenario, the same for all of them.

Once the fault is over, every job must reach a terminal status (bounded wait), and then:
the API's document, the database row and the workflow agree (status; for a completed job
the workflow's `GenerateMediaResult` equals the row's outputs, prediction id and retry
count; for a failed one the workflow's failure equals the row's error); the bucket holds
exactly one object per output and one metadata document per completed job, with the bytes
the row describes, and nothing for failed jobs; no row and no workflow is left unfinished;
no row, workflow or object exists that the scenario did not plan; the API never answered 500.

Since each scenario has a stack of its own, "everything in the stack" is "this scenario's".
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlmodel import col
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from core.jobs import GenerateMediaResult
from core.keys import MEDIA_PREFIX, METADATA_PREFIX, metadata_key
from core.models import Job
from tests.faults.harness import FaultEnv, Planned, Workload, provider_state

TERMINAL = {"completed", "failed", "canceled"}
WORKFLOW_ENDS = {
    WorkflowExecutionStatus.COMPLETED: "completed",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.CANCELED: "canceled",
}
ID_LENGTH = 36


@dataclass
class Outcome:
    """What a scenario found; `line()` is its summary line."""

    name: str
    submitted: int = 0
    completed: int = 0
    failed_as_expected: int = 0
    lost: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    retries: int = 0  # retried attempts the completed jobs' rows count: the faults' footprint
    predictions: int = 0  # predictions the provider was asked to create (a retried create
    # whose first answer was lost pays for a second one)
    refused_ids: set[str] = field(default_factory=set)  # workflows of requests answered 503

    def line(self) -> str:
        return (
            f"fault {self.name}: submitted {self.submitted}, completed {self.completed}, "
            f"failed-as-expected {self.failed_as_expected}, lost {len(self.lost)}, "
            f"duplicate objects {len(self.duplicates)}, orphan objects {len(self.orphans)} "
            f"(settled {self.seconds:.0f} s after the fault; {self.retries} retried attempts; "
            f"{self.predictions} predictions created)"
        )

    def assert_clean(self) -> None:
        findings = [*self.lost, *self.duplicates, *self.orphans, *self.problems]
        shown = "\n  ".join(findings[:40])
        assert not findings, f"{self.line()}\n  {shown}"


def _owner(key: str) -> tuple[str, int | None]:
    """`media/{id}-2.png` -> (id, 2); `metadata/{id}.json` -> (id, None)."""
    if key.startswith(METADATA_PREFIX):
        return key.removeprefix(METADATA_PREFIX)[:ID_LENGTH], None
    rest = key.removeprefix(MEDIA_PREFIX)
    suffix = rest[ID_LENGTH:]
    index = suffix[1:].split(".", 1)[0] if suffix.startswith("-") else "0"
    return rest[:ID_LENGTH], int(index) if index.isdigit() else -1


async def read_rows(env: FaultEnv, ids: list[str] | None = None) -> dict[str, Job]:
    statement = sa.select(Job)
    if ids is not None:
        statement = statement.where(col(Job.id).in_([uuid.UUID(i) for i in ids]))
    async with env.sessions() as session:
        return {str(row.id): row for row in (await session.execute(statement)).scalars()}


async def _workflows(env: FaultEnv) -> dict[str, Any]:
    return {wf.id: wf async for wf in env.temporal.list_workflows()}


async def adopt_unknown(env: FaultEnv, workload: Workload, outcome: Outcome) -> None:
    """Give planned jobs the ids of rows or workflows nobody was told about (a lost answer)."""
    planned = workload.by_prompt()
    known = {job.job_id for job in workload.jobs if job.job_id}
    rows = await read_rows(env)
    workflows = await _workflows(env)
    prompts = {job_id: row.prompt for job_id, row in rows.items()}
    for job_id, wf in workflows.items():
        if job_id not in prompts:
            memo = await wf.memo()
            prompts[job_id] = str(memo.get("prompt", ""))
    for job_id, prompt in prompts.items():
        if job_id in known or job_id in outcome.refused_ids:
            continue
        if prompt in workload.refused:
            await _refused(env, outcome, job_id, job_id in rows, workflows.get(job_id))
            continue
        job = planned.get(prompt)
        if job is None:
            outcome.problems.append(f"{job_id}: a job nobody planned ({prompt!r})")
        elif job.job_id is not None:
            outcome.problems.append(f"{job_id}: a second job for {prompt!r} ({job.job_id})")
        else:
            job.job_id = job_id


async def _refused(env: FaultEnv, outcome: Outcome, job_id: str, has_row: bool, wf: Any) -> None:
    """A request the API refused (503) may leave a workflow it stopped, and nothing else."""
    outcome.refused_ids.add(job_id)
    if has_row:
        outcome.problems.append(f"{job_id}: a request answered 503 left a row")
    if wf is not None and wf.status != WorkflowExecutionStatus.TERMINATED:
        outcome.problems.append(f"{job_id}: a request answered 503 left a {wf.status} workflow")


async def wait_until_terminal(env: FaultEnv, ids: list[str], within: float) -> dict[str, Job]:
    """Rows of `ids`, once all are terminal or `within` seconds have passed (then as they are)."""
    deadline = time.monotonic() + within
    rows: dict[str, Job] = {}
    while True:
        try:
            rows = await read_rows(env, ids)
        except Exception:  # the database may still be coming back
            rows = rows or {}
        done = all(job_id in rows and rows[job_id].status in TERMINAL for job_id in ids)
        if done or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(1.0)


async def _sha256(env: FaultEnv, key: str) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    async for chunk in env.storage.iter_object(key):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


class _Job:
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
        public = [
            {k: o[k] for k in ("url", "content_type", "file_size", "sha256")} for o in row.outputs
        ]
        if document["outputs"] != public:
            self.problem(f"API outputs {document['outputs']} != row {public}")
        if len(result.outputs) != self.job.outputs:
            self.problem(f"{len(result.outputs)} outputs, asked for {self.job.outputs}")
        if not (row.external_job_id == result.external_job_id == document["external_job_id"]):
            self.problem(f"prediction ids differ: {row.external_job_id}, {result.external_job_id}")
        if row.retry_count != result.retry_count or document["retry_count"] != row.retry_count:
            self.problem(f"retry_count: row {row.retry_count}, workflow {result.retry_count}")
        if row.file_size != result.outputs[0].file_size:
            self.problem(f"file_size {row.file_size} != {result.outputs[0].file_size}")
        expected = {o.key: o for o in result.outputs}
        self._bucket(keys, {*expected, metadata_key(self.id)})
        for key, output in expected.items():
            if key in keys:
                digest, size = await _sha256(self.env, key)
                if (digest, size) != (output.sha256, output.file_size):
                    self.problem(
                        f"{key} holds {size} bytes {digest[:12]}, row says {output.file_size}"
                    )
        if metadata_key(self.id) in keys:
            metadata = await self.env.storage.get_json(metadata_key(self.id))
            if [o["sha256"] for o in metadata["outputs"]] != [o.sha256 for o in result.outputs]:
                self.problem("the metadata document names other outputs")
            if metadata["external_job_id"] != result.external_job_id:
                self.problem("the metadata document names another prediction")

    def _failed(self, row: Job, failure: BaseException | None, keys: list[str]) -> None:
        if not isinstance(failure, ApplicationError):
            self.lost(f"row failed, workflow failure {failure!r}")
            return
        allowed = {self.job.failure_type} if self.job.expect == "failed" else self.may_fail
        if failure.type not in allowed:
            self.lost(f"failed with {failure.type}: {failure.message} (allowed: {allowed})")
            return
        self.outcome.failed_as_expected += 1
        error = row.error or {}
        if (error.get("type"), error.get("message")) != (failure.type, failure.message):
            self.problem(f"row error {error} != workflow failure {failure.type}: {failure.message}")
        self._bucket(keys, set())

    def _bucket(self, keys: list[str], expected: set[str]) -> None:
        indices = {_owner(key)[1] for key in expected}
        for key in keys:
            if key in expected:
                continue
            if _owner(key)[1] in indices:
                self.outcome.duplicates.append(f"{self.id}: {key} beside {sorted(expected)}")
            else:
                self.outcome.orphans.append(f"{self.id}: {key} (expected {sorted(expected)})")
        for key in sorted(expected - set(keys)):
            self.problem(f"{key} missing from the bucket")


async def _api_500s(env: FaultEnv) -> list[str]:
    text = (await env.api.get("/metrics")).text
    return [
        line
        for line in text.splitlines()
        if line.startswith("mediagen_http_requests_total{")
        and 'code="500"' in line
        and float(line.rsplit(" ", 1)[1]) > 0
    ]


async def check_jobs(
    env: FaultEnv,
    name: str,
    workload: Workload,
    *,
    within: float,
    may_fail: set[str] | None = None,
) -> Outcome:
    """Wait (up to `within` s) for every job of `workload` to end, then check all of the above.

    `may_fail`: error types a job not meant to fail may still end with (the provider kept
    failing past every retry); such a job counts as failed as expected.
    """
    outcome = Outcome(name)
    began = time.monotonic()
    await adopt_unknown(env, workload, outcome)
    ids = [job.job_id for job in workload.submitted() if job.job_id]
    rows = await wait_until_terminal(env, ids, within)
    outcome.seconds = time.monotonic() - began
    await adopt_unknown(env, workload, outcome)  # rows that appeared meanwhile
    jobs = workload.submitted()
    outcome.submitted = len(jobs)
    rows |= await read_rows(env, [job.job_id for job in jobs if job.job_id])
    keys_of: defaultdict[str, list[str]] = defaultdict(list)
    for key in [
        *await env.storage.list_keys(MEDIA_PREFIX),
        *await env.storage.list_keys(METADATA_PREFIX),
    ]:
        keys_of[_owner(key)[0]].append(key)
    gate = asyncio.Semaphore(8)

    async def one(job: Planned) -> None:
        assert job.job_id is not None
        async with gate:
            checker = _Job(env, outcome, job, may_fail or set())
            await checker.check(rows.get(job.job_id), keys_of.get(job.job_id, []))

    await asyncio.gather(*(one(job) for job in jobs))
    ids_of_jobs = {job.job_id for job in jobs}
    for owner, keys in keys_of.items():
        if owner not in ids_of_jobs:
            outcome.orphans += [f"{key}: no job has this id" for key in keys]
    # Everything in the stack, beyond the planned jobs: nothing may be left unfinished.
    reported = {entry[:ID_LENGTH] for entry in outcome.lost}
    for job_id, row in (await read_rows(env)).items():
        if row.status not in TERMINAL and job_id not in reported:
            outcome.lost.append(f"{job_id}: row still {row.status} ({row.prompt})")
    for job_id, wf in (await _workflows(env)).items():
        if wf.status == WorkflowExecutionStatus.RUNNING and job_id not in reported:
            outcome.lost.append(f"{job_id}: workflow still running")
        elif job_id not in ids_of_jobs | outcome.refused_ids:
            outcome.problems.append(f"{job_id}: workflow {wf.status} of no planned job")
    outcome.problems += [f"the API answered 500: {line}" for line in await _api_500s(env)]
    outcome.predictions = (await provider_state(env))["creates"]["total"]
    return outcome
