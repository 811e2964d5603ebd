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

from core.config import get_settings

CASES = 2_000
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


@pytest.fixture(scope="module")
def operations(stack):
    schema = schemathesis.openapi.from_url(f"{get_settings().public_base_url}/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


def test_no_input_yields_a_server_error(operations):
    # Operations without inputs have no negative cases, hence the margin.
    per_operation = 2 * CASES // (len(operations) * len(MODES))
    seen = 0
    with requests.Session() as session:
        for operation in operations:
            for mode in MODES:

                @given(case=operation.as_strategy(generation_mode=mode))
                @settings(
                    max_examples=per_operation,
                    deadline=None,
                    suppress_health_check=list(HealthCheck),
                    database=None,
                )
                def check(case):
                    nonlocal seen
                    seen += 1
                    response = case.call(session=session, timeout=30)
                    where = f"{case.method} {case.formatted_path} ({mode})"
                    assert response.status_code < 500, f"{where}: {response.text[:300]}"
                    if response.status_code >= 400:
                        assert "detail" in response.json(), f"{where}: {response.text[:300]}"

                try:
                    check()
                except Unsatisfiable:
                    # An operation with no inputs (GET /health) has no invalid requests.
                    assert mode is GenerationMode.NEGATIVE
    assert seen >= CASES
