"""Uploads processed through faults: the worker SIGKILLed mid-variant, and S3 down for 20 s.

Each upload must still complete with exactly its variants in the bucket (a variant made
twice replaces itself under its key), and the job document must name what is stored.
"""

from __future__ import annotations

import asyncio
import io
import signal
import time
from typing import Any

import pytest
from PIL import Image

from core.keys import VARIANTS_PREFIX, variant_key
from tests.faults.bucket import list_keys, object_digest
from tests.faults.harness import FaultEnv, in_thread, outage, restore

pytestmark = pytest.mark.slow

UPLOADS = 8
PRESETS = ("thumbnail", "preview", "compressed")
TERMINAL = {"completed", "failed", "canceled"}


def photo(seed: int) -> bytes:
    """A 3000x2000 noisy JPEG: long enough to decode that a fault lands mid-variant."""
    image = Image.effect_noise((3000, 2000), 40 + seed).convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


async def upload_all(faults: FaultEnv) -> list[str]:
    ids = []
    for seed in range(UPLOADS):
        files = {"file": (f"photo-{seed}.jpg", photo(seed), "image/jpeg")}
        response = await faults.api.post("/api/v1/uploads", files=files)
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])
    return ids


async def wait_until_processing(faults: FaultEnv, job_id: str, within: float = 60) -> None:
    """Until the job has left `pending` (it may be done already: the others are not)."""
    for _ in range(int(within / 0.05)):
        if (await faults.api.get(f"/api/v1/status/{job_id}")).json()["status"] != "pending":
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{job_id} still pending after {within} s")


async def ended(faults: FaultEnv, ids: list[str], within: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + within
    documents: list[dict[str, Any]] = []
    for job_id in ids:
        while True:
            document = (await faults.api.get(f"/api/v1/status/{job_id}")).json()
            if document["status"] in TERMINAL:
                documents.append(document)
                break
            assert time.monotonic() < deadline, f"{job_id} still {document['status']}"
            await asyncio.sleep(0.2)
    return documents


async def assert_exactly_their_variants(faults: FaultEnv, documents: list[dict[str, Any]]) -> None:
    """Every upload completed with each preset once, stored with the bytes its document names
    (and no other variant of these jobs in the bucket)."""
    assert [document["status"] for document in documents] == ["completed"] * len(documents)
    ids = {document["id"] for document in documents}
    keys = [
        key
        for key in await list_keys(faults.stack.settings, VARIANTS_PREFIX)
        if key.split("/")[1] in ids
    ]
    expected = {
        variant_key(document["id"], 0, name, "webp") for document in documents for name in PRESETS
    }
    assert sorted(keys) == sorted(expected)  # no duplicate, none missing, nothing else
    for document in documents:
        assert sorted(v["name"] for v in document["variants"]) == sorted(PRESETS)
        assert document["variant_failures"] == []
        for variant in document["variants"]:
            key = variant_key(document["id"], 0, variant["name"], "webp")
            digest, size = await object_digest(faults.storage, key)
            assert (digest, size) == (variant["sha256"], variant["file_size"]), key


async def test_uploads_survive_the_worker_killed_mid_variant(faults, report):
    ids = await upload_all(faults)
    await wait_until_processing(faults, ids[0])
    try:
        await asyncio.sleep(0.5)  # the first variants are being decoded
        await in_thread(faults.stack.kill, "worker", signal.SIGKILL)
        await asyncio.sleep(1.0)
        await in_thread(faults.stack.start_child, "worker")
    finally:
        await restore(faults.stack, "worker")

    documents = await ended(faults, ids, within=240)

    retried = sum(document["retry_count"] for document in documents)
    report(f"fault uploads, worker SIGKILL mid-variant: {len(ids)} uploads, {retried} retries")
    await assert_exactly_their_variants(faults, documents)
    assert retried > 0  # the kill did land on running variants


async def test_uploads_survive_the_object_store_down_for_20s(faults, report):
    ids = await upload_all(faults)
    await wait_until_processing(faults, ids[0])

    await outage(faults.stack, "s3", 20.0)
    documents = await ended(faults, ids, within=240)

    retried = sum(document["retry_count"] for document in documents)
    report(f"fault uploads, S3 down 20 s: {len(ids)} uploads, {retried} retries")
    await assert_exactly_their_variants(faults, documents)
