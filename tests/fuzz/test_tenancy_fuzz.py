"""Hypothesis-generated sequences of (tenant, operation, target job) over the running API,
each answer checked against a model of who owns what: an owner never sees another owner's
job (a 404 exactly like an unknown id's), its lists hold its own jobs only, an admin sees all.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from core.config import get_settings
from core.db import make_engine, make_session_factory
from tests.pipeline.tenants import Tenant, mint

NAMES = ("a", "b", "admin")
STATUSES = ("pending", "processing", "completed", "failed", "canceled")
OPERATIONS = ("status", "metadata", "download", "delete")
SLOW = {"fake": {"latency": 30}}
CANCELED_WITHIN = 30.0  # seconds for a cancelled job's workflow to record it


@dataclass
class Model:
    """What the service must hold: each job this test made and whose it is."""

    tenants: dict[str, Tenant]
    client: httpx.Client
    owner_of: dict[str, str] = field(default_factory=dict)  # job id -> tenant name
    model_of: dict[str, str] = field(default_factory=dict)  # job id -> model_name
    steps: int = 0
    failures: list[str] = field(default_factory=list)
    refused_foreign: int = 0  # another owner's job answered 404

    def jobs_of(self, name: str) -> set[str]:
        return {job for job, owner in self.owner_of.items() if owner == name}

    def may_see(self, name: str, job_id: str) -> bool:
        owner = self.owner_of.get(job_id)
        return owner is not None and (owner == name or self.tenants[name].admin)


@pytest.fixture(scope="module")
async def tenants(stack) -> AsyncIterator[dict[str, Tenant]]:
    engine = make_engine(get_settings())
    try:
        sessions = make_session_factory(engine)
        yield {
            "a": await mint(sessions),
            "b": await mint(sessions),
            "admin": await mint(sessions, admin=True),
        }
    finally:
        await engine.dispose()


def listing(client: httpx.Client, who: Tenant, query: dict[str, Any]) -> tuple[list[str], int]:
    """Every id of a listing, page by page, and the total it claims."""
    ids: list[str] = []
    offset = 0
    while True:
        response = client.get(
            "/api/v1/jobs", params={**query, "limit": 100, "offset": offset}, headers=who.headers
        )
        assert response.status_code == 200, f"{who.owner} {query}: {response.text[:300]}"
        page = response.json()
        ids += [item["id"] for item in page["items"]]
        offset += 100
        if offset >= page["total"] or not page["items"]:
            return ids, page["total"]


Step = Callable[..., None]


def noted(step: Step) -> Step:
    """Keep the first failure's own message: a replay of a failing sequence meets a service
    that has moved on, which hypothesis then reports as flaky data generation instead."""

    @functools.wraps(step)
    def run(self: Tenancy, *args: Any, **kwargs: Any) -> None:
        try:
            step(self, *args, **kwargs)
        except Exception as exc:
            self.model.failures.append(f"{step.__name__}{kwargs}: {exc!r}")
            raise

    return run


class Tenancy(RuleBasedStateMachine):
    model: Model  # set by the test: the service's state outlives each generated sequence

    @rule(who=st.sampled_from(NAMES), slow=st.booleans(), tagged=st.booleans())
    @noted
    def submit(self, who: str, slow: bool, tagged: bool) -> None:
        model_name = f"fuzz-{who}/tenancy" if tagged else "black-forest-labs/flux-schnell"
        body: dict[str, Any] = {"prompt": f"{who}'s fox", "model_name": model_name}
        if slow:
            body["parameters"] = SLOW
        tenant = self.model.tenants[who]
        response = self.model.client.post("/api/v1/generate", json=body, headers=tenant.headers)
        assert response.status_code == 202, response.text[:300]
        job_id = response.json()["id"]
        assert job_id not in self.model.owner_of
        self.model.owner_of[job_id] = who
        self.model.model_of[job_id] = model_name

    @rule(
        who=st.sampled_from(NAMES),
        operation=st.sampled_from(OPERATIONS),
        # a job this test made (by index: the drawn data must not depend on the service's
        # state, which outlives each sequence), or an id nobody made
        job=st.integers(min_value=0, max_value=1 << 16) | st.uuids(version=4),
    )
    @noted
    def act_on_a_job(self, who: str, operation: str, job: int | uuid.UUID) -> None:
        known = sorted(self.model.owner_of)
        if isinstance(job, int):
            job_id = known[job % len(known)] if known else str(uuid.uuid4())
        else:
            job_id = str(job)
        tenant = self.model.tenants[who]
        method, path = {
            "status": ("GET", f"/api/v1/status/{job_id}"),
            "metadata": ("GET", f"/api/v1/jobs/{job_id}/metadata"),
            "download": ("GET", f"/api/v1/download/{job_id}?index=0"),
            "delete": ("DELETE", f"/api/v1/jobs/{job_id}"),
        }[operation]
        response = self.model.client.request(method, path, headers=tenant.headers)
        where = f"{who} {method} {path} (owner {self.model.owner_of.get(job_id)})"

        if not self.model.may_see(who, job_id):
            # another owner's job: exactly what an unknown id gets, and nothing of the job
            assert response.status_code == 404, f"{where}: {response.text[:300]}"
            assert response.json() == {"detail": f"job {job_id} not found"}, where
            assert "fox" not in response.text, where
            self.model.refused_foreign += job_id in self.model.owner_of
            return
        code = response.status_code
        if operation == "status":
            assert code == 200, f"{where}: {response.text[:300]}"
            document = response.json()
            assert document["id"] == job_id, where
            assert document["prompt"] == f"{self.model.owner_of[job_id]}'s fox", where
            assert document["model_name"] == self.model.model_of[job_id], where
        elif operation == "metadata":
            assert code in {200, 409}, f"{where}: {response.text[:300]}"
            if code == 200:
                assert response.json()["prompt"] == f"{self.model.owner_of[job_id]}'s fox"
        elif operation == "download":
            assert code in {200, 409}, f"{where}: {response.text[:300]}"
            if code == 200:
                assert response.content
                assert response.headers["content-disposition"]
        else:
            assert code in {202, 409}, f"{where}: {response.text[:300]}"
            if code == 202:
                assert self._ends_canceled(job_id, response.json(), tenant), where

    def _ends_canceled(self, job_id: str, document: dict[str, Any], tenant: Tenant) -> bool:
        """A DELETE answers once the workflow has cancelled, or after CANCEL_WAIT_SECONDS
        with the job as it then is (a loaded worker may take longer): either way it ends
        `canceled`, soon."""
        deadline = time.monotonic() + CANCELED_WITHIN
        while document["status"] != "canceled" and time.monotonic() < deadline:
            time.sleep(0.2)
            status = self.model.client.get(f"/api/v1/status/{job_id}", headers=tenant.headers)
            document = status.json()
        return bool(document["status"] == "canceled")

    @rule(
        who=st.sampled_from(NAMES),
        status=st.none() | st.sampled_from(STATUSES),
        by_alias=st.booleans(),
        tagged=st.none() | st.sampled_from(NAMES),
    )
    @noted
    def list_jobs(self, who: str, status: str | None, by_alias: bool, tagged: str | None) -> None:
        tenant = self.model.tenants[who]
        query: dict[str, Any] = {}
        if status is not None:
            query["status" if by_alias else "status_filter"] = status
        if tagged is not None:
            query["model_name"] = f"fuzz-{tagged}/tenancy"
        ids, total = listing(self.model.client, tenant, query)
        if status is None:
            # Jobs end while a status-filtered list is paged by offset (rows move between
            # statuses), so only an unfiltered list is sure to be counted exactly.
            assert total == len(ids) == len(set(ids)), f"{who} {query}: {total} vs {len(ids)}"
        where = f"{who}'s list {query}"
        if tenant.admin:
            if tagged is not None and status is None:
                assert set(ids) >= {
                    job for job, name in self.model.model_of.items() if name == query["model_name"]
                }, where
            return
        # the owner is this test's alone: every job listed is one it made, as this owner
        mine = self.model.jobs_of(who)
        assert set(ids) <= mine, f"{where} holds {set(ids) - mine}"
        if not query:
            assert set(ids) == mine, f"{where} lacks {mine - set(ids)}"
        if tagged is not None and tagged != who:
            assert ids == [], where

    @invariant()
    @noted
    def the_admin_sees_every_job(self) -> None:
        self.model.steps += 1
        if self.model.steps % 10:  # a full listing every tenth step is enough
            return
        ids, _ = listing(self.model.client, self.model.tenants["admin"], {})
        assert set(self.model.owner_of) <= set(ids)


def test_sequences_of_tenants_operations_and_jobs_match_the_model(tenants):
    with httpx.Client(base_url=get_settings().public_base_url, timeout=30) as client:
        model = Model(tenants=tenants, client=client)

        class Bound(Tenancy):
            pass

        Bound.model = model
        try:
            run_state_machine_as_test(
                Bound,
                settings=settings(
                    max_examples=30,
                    stateful_step_count=12,
                    deadline=None,
                    database=None,
                    phases=[Phase.generate],  # shrinking replays against a changed service
                    suppress_health_check=list(HealthCheck),
                ),
            )
        except BaseException as exc:
            if model.failures:
                raise AssertionError(f"first failure: {model.failures[0]}") from exc
            raise
        # the run did what it claims: both owners had jobs, and foreign ids were tried
        assert model.jobs_of("a"), model.owner_of
        assert model.jobs_of("b"), model.owner_of
        assert model.refused_foreign > 0
        # Whether the generated steps had the admin read another owner's job is chance: read
        # every job the run made with the admin key, whoever made it.
        admin = model.tenants["admin"]
        for job_id, owner in model.owner_of.items():
            response = client.get(f"/api/v1/status/{job_id}", headers=admin.headers)
            assert response.status_code == 200, response.text[:300]
            assert response.json()["prompt"] == f"{owner}'s fox"
