"""Key naming, webhook signatures, backoff, error classification and log lines."""

import base64
import hashlib
import hmac
import json
import logging
import time
from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from activities.errors import to_application_error
from api.routes.webhooks import verify_signature
from core.config import Settings
from core.keys import media_key, media_key_of_name, metadata_key
from core.logging import JobIdFilter, JsonFormatter, job_id_var
from core.replicate import ProviderRateLimited, ProviderRejected, ProviderUnavailable
from core.storage import _HashingReader
from worker.main import worker_tuning
from workflows import policies


def test_object_keys_derive_from_the_job_id():
    assert media_key("j", 0, "png") == "media/j.png"
    assert media_key("j", 2, "webp") == "media/j-2.webp"
    assert metadata_key("j") == "metadata/j.json"


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("j.png", "media/j.png"),
        ("../metadata/j.json", None),
        ("", None),
        ("a/b.png", None),
        ("..", None),
    ],
)
def test_only_media_keys_are_served(name, key):
    assert media_key_of_name(name) == key


async def test_the_reader_hands_over_whole_parts_across_chunk_boundaries():
    body = bytes(range(256)) * 40  # 10,240 bytes in chunks of 1,000: parts cut chunks
    chunks = [body[i : i + 1000] for i in range(0, len(body), 1000)]

    async def stream():
        for chunk in chunks:
            yield chunk

    reader = _HashingReader(stream())
    parts = [await reader.read(3000) for _ in range(4)] + [await reader.read(3000)]
    assert [len(p) for p in parts] == [3000, 3000, 3000, 1240, 0]
    assert b"".join(parts) == body
    assert reader.size == len(body)
    assert reader.sha256.hexdigest() == hashlib.sha256(body).hexdigest()


def sign(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def test_webhook_signatures_are_checked():
    secret = "whsec_" + base64.b64encode(b"0123456789abcdef").decode()
    now = str(int(time.time()))
    body = b'{"id": "p"}'
    good = sign(secret, "msg_1", now, body)
    assert verify_signature(secret, msg_id="msg_1", timestamp=now, body=body, signatures=good)
    assert not verify_signature(secret, msg_id="msg_1", timestamp=now, body=b"{}", signatures=good)
    stale = str(int(time.time()) - 3600)
    assert not verify_signature(
        secret,
        msg_id="msg_1",
        timestamp=stale,
        body=body,
        signatures=sign(secret, "msg_1", stale, body),
    )


def test_backoff_grows_and_is_capped():
    policy = policies.PREDICTION_RERUN
    assert policies.backoff_delay(policy, 1) == timedelta(seconds=5)
    assert policies.backoff_delay(policy, 2) == timedelta(seconds=10)
    assert policies.backoff_delay(policy, 10) == timedelta(seconds=60)


def test_error_classification():
    rejected = to_application_error(ProviderRejected("bad input", 422), attempt=1)
    limited = to_application_error(ProviderRateLimited("slow down", retry_after=3), attempt=2)
    outage = to_application_error(ProviderUnavailable("503"), attempt=4)
    schema = to_application_error(IntegrityError("stmt", {}, Exception("null")), attempt=1)
    assert rejected.non_retryable
    assert rejected.type == "ProviderRejected"
    assert limited.next_retry_delay == timedelta(seconds=3)
    assert not outage.non_retryable
    assert outage.details == (4,)
    assert schema.non_retryable
    assert set(policies.NON_RETRYABLE) >= {"ProviderRejected"}


def test_json_log_lines_carry_the_job_id():
    record = logging.LogRecord("api", logging.INFO, __file__, 1, "hello %s", ("there",), None)
    token = job_id_var.set("job-1")
    try:
        JobIdFilter().filter(record)
    finally:
        job_id_var.reset(token)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "hello there"
    assert line["job_id"] == "job-1"


def test_temporal_extras_give_the_job_id():
    record = logging.LogRecord("temporalio.activity", logging.INFO, __file__, 1, "m", (), None)
    record.temporal_activity = {"workflow_id": "job-2", "activity_type": "store_output"}
    JobIdFilter().filter(record)
    assert getattr(record, "job_id", None) == "job-2"


def test_provider_defaults_follow_the_token():
    real = Settings(replicate_api_token="r8_x", replicate_base_url="")
    assert real.provider_base_url == "https://api.replicate.com/v1"
    explicit = Settings(replicate_api_token="r8_x", replicate_base_url="http://proxy/v1/")
    assert explicit.provider_base_url == "http://proxy/v1"
    assert Settings(cors_origins="http://a, http://b").cors_origins == ["http://a", "http://b"]


def test_the_worker_takes_its_sticky_timeout_from_the_settings(monkeypatch):
    monkeypatch.setenv("WORKER_STICKY_TIMEOUT_SECONDS", "45")
    tuning = worker_tuning(Settings())
    assert tuning["sticky_queue_schedule_to_start_timeout"] == timedelta(seconds=45)
    assert worker_tuning(Settings(worker_sticky_timeout_seconds=60))[
        "sticky_queue_schedule_to_start_timeout"
    ] == timedelta(seconds=60)
    with pytest.raises(ValidationError, match="worker_sticky_timeout_seconds"):
        Settings(worker_sticky_timeout_seconds=0)
