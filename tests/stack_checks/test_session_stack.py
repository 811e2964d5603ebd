"""Read-only checks of the session `stack`: health, settings, registration, identity; and `.env`."""

from __future__ import annotations

import io
import os
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from dotenv import dotenv_values
from miniopy_async.error import S3Error
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from core.config import get_settings
from core.search_attributes import REGISTERED
from devstack import Stack, StackSettings
from devstack.isolated import TEST_ENV, listener_ports
from devstack.servers import ROOT
from tests.stack_checks.support import (
    FIXED_PORTS,
    get_object,
    put_object,
    s3_client,
    sql,
)


def test_every_child_of_the_session_stack_is_healthy(stack: Stack) -> None:
    for name in stack.names:
        spec = stack.spec(name)
        if spec.oneshot:
            assert not stack.is_running(name), f"{name} should have finished"
            continue
        assert stack.is_running(name), f"{name} is not running"
        assert spec.health is not None
        assert spec.health(), f"{name} fails its health check"


def test_the_test_process_sees_the_stack_settings(stack: Stack) -> None:
    settings = get_settings()
    assert settings.database_url == stack.settings.database_url
    assert settings.temporal_address == stack.settings.temporal_address
    assert settings.s3_endpoint == stack.settings.s3_endpoint
    assert settings.api_port == stack.settings.api_port
    assert os.environ["WEBHOOK_BASE_URL"] == stack.settings.api_url
    assert os.environ["FAKE_REPLICATE_LATENCY_MAX"] == TEST_ENV["FAKE_REPLICATE_LATENCY_MAX"]
    used = set(listener_ports(stack.settings).values())
    assert not used & FIXED_PORTS
    assert str(stack.data_dir) != str(Path(".data").resolve())


async def test_postgres_accepts_queries(stack: Stack) -> None:
    rows = await sql(stack.settings, "SELECT current_database() AS db, 6 * 7 AS answer")
    assert (rows[0]["db"], rows[0]["answer"]) == ("mediagen", 42)


async def test_search_attributes_are_registered(stack: Stack) -> None:
    settings = stack.settings
    client = await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=settings.temporal_namespace)
    )
    found = {
        name: IndexedValueType.Name(kind)
        for name, kind in listed.custom_attributes.items()
        if name in REGISTERED
    }
    assert found == {
        name: f"INDEXED_VALUE_TYPE_{kind.upper()}" for name, kind in REGISTERED.items()
    }


async def test_s3_accepts_the_configured_identity_only(stack: Stack) -> None:
    settings = stack.settings
    name = f"stack-test/{uuid.uuid4()}.txt"
    await put_object(settings, name, b"hello")
    assert await get_object(settings, name) == b"hello"
    for key, secret in ((None, "wrong-secret"), ("nobody", "nothing")):
        client = s3_client(settings, secret=secret, key=key)
        try:
            with pytest.raises(S3Error) as failure:
                await client.stat_object(settings.s3_bucket, name)
            assert failure.value.code in {
                "AccessDenied",
                "SignatureDoesNotMatch",
                "InvalidAccessKeyId",
            }
            with pytest.raises(S3Error):
                await client.put_object(settings.s3_bucket, "intruder.txt", io.BytesIO(b"x"), 1)
        finally:
            await client.close_session()
    async with httpx.AsyncClient() as anonymous:
        response = await anonymous.get(f"{settings.s3_url}/{settings.s3_bucket}/{name}")
    assert response.status_code == 403


# -- stacks of our own ---------------------------------------------------------------------


def test_env_file_holds_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in StackSettings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    values = dotenv_values(ROOT / ".env")
    for required in (
        "DATABASE_URL",
        "TEMPORAL_ADDRESS",
        "TEMPORAL_UI_URL",
        "S3_ENDPOINT",
        "S3_ACCESS_KEY",
        "FAKE_REPLICATE_PORT",
        "API_PORT",
        "WORKER_METRICS_PORT",
        "DATA_DIR",
        "EMBEDDED",
    ):
        assert required in values
    given: dict[str, Any] = {key.lower(): value for key, value in values.items()}
    from_file = StackSettings(_env_file=None, **given)
    assert from_file.model_dump() == StackSettings(_env_file=None).model_dump()
