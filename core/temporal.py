"""connect_temporal: the one place that picks the data converter (and the calls' deadline)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Protocol, TypeVar

from temporalio.client import (
    CancelWorkflowInput,
    Client,
    DescribeWorkflowInput,
    Interceptor,
    OutboundInterceptor,
    SignalWorkflowInput,
    StartWorkflowInput,
    TerminateWorkflowInput,
    WorkflowExecutionDescription,
    WorkflowHandle,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.runtime import Runtime

from core.config import Settings

# Workflow inputs and results are pydantic models (core.jobs); histories hold their JSON.
DATA_CONVERTER: DataConverter = pydantic_data_converter


class _HasDeadline(Protocol):
    rpc_timeout: timedelta | None


_Input = TypeVar("_Input", bound=_HasDeadline)


class RpcDeadline(Interceptor):
    """Gives every one-shot workflow call an RPC deadline unless the caller set its own.

    Long polls (waiting on a workflow's result) keep none: they wait by design.
    """

    def __init__(self, timeout: timedelta) -> None:
        self.timeout = timeout

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _Deadline(next, self.timeout)


class _Deadline(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, timeout: timedelta) -> None:
        super().__init__(next)
        self._timeout = timeout

    def _bound(self, input: _Input) -> _Input:
        if input.rpc_timeout is None:
            input.rpc_timeout = self._timeout
        return input

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        return await super().start_workflow(self._bound(input))

    async def signal_workflow(self, input: SignalWorkflowInput) -> None:
        await super().signal_workflow(self._bound(input))

    async def cancel_workflow(self, input: CancelWorkflowInput) -> None:
        await super().cancel_workflow(self._bound(input))

    async def terminate_workflow(self, input: TerminateWorkflowInput) -> None:
        await super().terminate_workflow(self._bound(input))

    async def describe_workflow(self, input: DescribeWorkflowInput) -> WorkflowExecutionDescription:
        return await super().describe_workflow(self._bound(input))


async def connect_temporal(
    settings: Settings, *, runtime: Runtime | None = None, rpc_timeout: timedelta | None = None
) -> Client:
    """A client for the configured namespace, with the project's data converter.

    Args:
        rpc_timeout: the deadline of each one-shot workflow call (see `RpcDeadline`).
    """
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=DATA_CONVERTER,
        runtime=runtime,
        interceptors=[RpcDeadline(rpc_timeout)] if rpc_timeout is not None else [],
    )
