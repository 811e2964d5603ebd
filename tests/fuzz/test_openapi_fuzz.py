"""Property tests of the API from its own OpenAPI document (schemathesis + hypothesis).

Every operation gets generated valid (positive) and invalid (negative) requests; none may
answer 5xx, and every error must be JSON with a `detail`. 2,000+ cases in all.
"""

from __future__ import annotations

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.result import Ok

from core.config import get_settings

CASES = 2_000
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


@pytest.fixture(scope="module")
def operations(stack):
    schema = schemathesis.openapi.from_url(f"{get_settings().public_base_url}/openapi.json")
    results = list(schema.get_all_operations())
    assert all(isinstance(result, Ok) for result in results), results
    return [result.ok() for result in results if isinstance(result, Ok)]


def fuzz(operation, mode: GenerationMode, session: requests.Session, examples: int) -> int:
    """Send up to `examples` generated requests to one operation; returns how many were sent."""
    sent = 0

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def check(case):
        nonlocal sent
        sent += 1
        response = case.call(session=session, timeout=30)
        where = f"{case.method} {case.formatted_path} ({mode}) -> {response.status_code}"
        assert response.status_code < 500, f"{where}: {response.text[:300]}"
        if response.status_code >= 400:
            assert response.headers["content-type"] == ["application/json"], (
                f"{where}: {response.text[:300]}"
            )
            assert "detail" in response.json(), f"{where}: {response.text[:300]}"

    try:
        check()
    except Unsatisfiable:
        # An operation without inputs (GET /health) has no invalid requests.
        assert mode is GenerationMode.NEGATIVE
    return sent


def test_no_input_yields_a_server_error(operations):
    # Operations without inputs have no negative cases, hence the margin.
    examples = 2 * CASES // (len(operations) * len(MODES))
    with requests.Session() as session:
        sent = sum(fuzz(op, mode, session, examples) for op in operations for mode in MODES)
    assert sent >= CASES
