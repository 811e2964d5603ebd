"""connect_temporal: the one place that picks the data converter."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.runtime import Runtime

from core.config import Settings

# Workflow inputs and results are pydantic models (core.jobs); histories hold their JSON.
DATA_CONVERTER: DataConverter = pydantic_data_converter


async def connect_temporal(settings: Settings, *, runtime: Runtime | None = None) -> Client:
    """A client for the configured namespace, with the project's data converter."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=DATA_CONVERTER,
        runtime=runtime,
    )
