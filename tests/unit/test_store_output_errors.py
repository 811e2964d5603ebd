"""store_output's failures as Temporal sees them: an output that is gone is final."""

from typing import Any

import httpx
import pytest
from temporalio.api.failure.v1 import Failure
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.jobs import JobActivities
from activities.urls import Urls
from core.jobs import StoreOutputInput
from core.output_rules import Downloads, OutputRules, download_http
from core.replicate import ReplicateClient
from workflows import policies


def make_activities(handler) -> JobActivities:
    http = ReplicateClient.build_http("https://api.example.test/v1", "r8_token")
    http._transport = httpx.MockTransport(handler)
    downloads = download_http()
    downloads._transport = httpx.MockTransport(handler)
    unused: Any = None  # the download fails before the bucket or database is reached
    return JobActivities(
        replicate=ReplicateClient(http),
        storage=unused,
        sessions=unused,
        urls=Urls(public_base_url="http://media.example.test"),
        signer=unused,
        webhooks=unused,
        downloads=Downloads(
            OutputRules.build(["delivery.example.test"], "https://api.example.test/v1"), downloads
        ),
    )


def streamed(status: int) -> httpx.Response:
    """An error whose body arrives as a stream, as from a real server: not read yet."""

    async def chunks():
        yield b'{"detail": "gone"}'

    return httpx.Response(status, content=chunks())


async def store_failure(status: int) -> ApplicationError:
    activities = make_activities(lambda _: streamed(status))
    request = StoreOutputInput(
        job_id="j", index=0, url="https://delivery.example.test/out.png?token=s3cret"
    )
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(activities.store_output, request)
    return caught.value


async def test_an_expired_output_fails_the_activity_for_good():
    error = await store_failure(404)

    assert error.type == "OutputUnavailable"
    assert error.non_retryable
    assert error.details == (1,)  # the attempt, which the workflow counts into retry_count
    assert "delivery.example.test" in error.message
    assert "404" in error.message
    assert "s3cret" not in error.message
    assert "OutputUnavailable" in policies.NON_RETRYABLE


async def test_the_failure_can_be_sent_to_temporal():
    error = await store_failure(410)
    failure = Failure()

    DataConverter.default.failure_converter.to_failure(
        error, DataConverter.default.payload_converter, failure
    )

    assert failure.application_failure_info.type == "OutputUnavailable"
    assert failure.application_failure_info.non_retryable


async def test_an_outage_of_the_output_host_is_retried():
    error = await store_failure(503)

    assert error.type == "ProviderUnavailable"
    assert not error.non_retryable
