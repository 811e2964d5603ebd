"""Property tests of the API from its own OpenAPI document (schemathesis + hypothesis).

Every operation gets generated valid (positive) and invalid (negative) requests, sent with
the stack's (admin) key; none may answer 5xx, and every error must be JSON with a `detail`.
2,000+ cases in all. A second pass sends no key at all: every operation that declares the
bearer scheme answers `401` whatever else the request holds, and none answers 5xx.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.result import Ok
from starlette.routing import compile_path

from core.config import get_settings

CASES = 2_000
KEYLESS_EXAMPLES = 15  # per operation and mode: every answer is a cheap 401
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
# schemathesis's Response: headers map to lists of values
Check = Callable[[Any, Any, GenerationMode], None]


@pytest.fixture(scope="module")
def schema(stack):
    return schemathesis.openapi.from_url(f"{get_settings().public_base_url}/openapi.json")


@pytest.fixture(scope="module")
def operations(schema):
    results = list(schema.get_all_operations())
    assert all(isinstance(result, Ok) for result in results), results
    return [result.ok() for result in results if isinstance(result, Ok)]


@pytest.fixture(scope="module")
def bearer_schemes(schema) -> set[str]:
    schemes = schema.raw_schema.get("components", {}).get("securitySchemes", {})
    names = {
        name
        for name, scheme in schemes.items()
        if scheme.get("type") == "http" and str(scheme.get("scheme", "")).lower() == "bearer"
    }
    assert names, f"the document declares no bearer scheme: {schemes}"
    return names


def needs_key(operation, bearer_schemes: set[str]) -> bool:
    """Whether the operation declares the bearer scheme."""
    security = operation.definition.raw.get("security") or []
    return any(name in bearer_schemes for entry in security for name in entry)


def routed_to(operation, response: Any) -> bool:
    """Whether the request sent reaches the operation's route (a negative path value such as
    `a/b` or an empty one lands on no route at all: the router's 404, not the operation)."""
    pattern, _, _ = compile_path(operation.path)
    path = unquote(urlsplit(response.request.url or "").path)
    return pattern.match(path) is not None


def assert_json_error(where: str, response: Any) -> None:
    if response.status_code >= 400:
        assert response.headers["content-type"] == ["application/json"], (
            f"{where}: {response.text[:300]}"
        )
        assert "detail" in response.json(), f"{where}: {response.text[:300]}"


def fuzz(
    operation,
    mode: GenerationMode,
    session: requests.Session,
    examples: int,
    check: Check,
    *,
    headers: dict[str, str] | None = None,
    without_key: bool = False,
) -> int:
    """Send up to `examples` generated requests to one operation; returns how many were sent."""
    sent = 0

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def run(case):
        nonlocal sent
        sent += 1
        if without_key and case.headers:
            # schemathesis makes up an Authorization value for the scheme: send none at all
            case.headers = {k: v for k, v in case.headers.items() if k.lower() != "authorization"}
        response = case.call(session=session, headers=headers, timeout=30)
        where = f"{case.method} {case.formatted_path} ({mode}) -> {response.status_code}"
        assert response.status_code < 500, f"{where}: {response.text[:300]}"
        assert_json_error(where, response)
        check(case, response, mode)

    try:
        run()
    except Unsatisfiable:
        # An operation without inputs (GET /health) has no invalid requests.
        assert mode is GenerationMode.NEGATIVE
    return sent


def test_no_input_yields_a_server_error(stack, operations, bearer_schemes):
    # Operations without inputs have no negative cases, hence the margin.
    examples = 2 * CASES // (len(operations) * len(MODES))
    key = {"Authorization": f"Bearer {stack.api_key}"}
    admitted = 0

    def check(case, response: Any, mode: GenerationMode) -> None:
        nonlocal admitted
        if needs_key(case.operation, bearer_schemes) and response.status_code != 401:
            admitted += 1
        if mode is GenerationMode.POSITIVE and needs_key(case.operation, bearer_schemes):
            # a valid request with the stack's key is never refused for the key
            assert response.status_code not in {401, 403}, (
                f"{case.method} {case.formatted_path}: {response.text[:300]}"
            )
            assert response.request.headers.get("Authorization") == key["Authorization"]

    with requests.Session() as session:
        sent = sum(
            fuzz(op, mode, session, examples, check, headers=key)
            for op in operations
            for mode in MODES
        )
    assert sent >= CASES
    assert admitted >= CASES // 4, f"only {admitted} keyed requests got past the key"


def test_without_a_key_every_keyed_operation_is_401(operations, bearer_schemes):
    keyed = [op for op in operations if needs_key(op, bearer_schemes)]
    paths = {op.path for op in keyed}
    assert {"/api/v1/generate", "/api/v1/jobs", "/info", "/health/detailed"} <= paths, paths
    refused = 0

    def check(case, response: Any, mode: GenerationMode) -> None:
        nonlocal refused
        assert "Authorization" not in response.request.headers
        where = f"{case.method} {case.formatted_path} ({mode}) -> {response.status_code}"
        if not needs_key(case.operation, bearer_schemes):
            return
        if not routed_to(case.operation, response):
            assert response.status_code in {404, 405}, f"{where}: {response.text[:300]}"
            return
        assert response.status_code == 401, f"{where}: {response.text[:300]}"
        assert response.headers.get("www-authenticate") == ["Bearer"], where
        refused += 1

    with requests.Session() as session:
        sent = sum(
            fuzz(op, mode, session, KEYLESS_EXAMPLES, check, without_key=True)
            for op in operations
            for mode in MODES
        )
    assert sent > 0
    assert refused >= len(keyed) * KEYLESS_EXAMPLES, f"only {refused} of {sent} were refused"
