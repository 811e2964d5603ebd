"""core/storage.py `put_file`: how an upload reaches the bucket (one PUT read from the file)."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import pytest

from core.storage import ObjectNotFound, Storage


async def test_a_file_is_stored_whole_with_its_size_and_sha256(
    storage: Storage, tmp_path: Path
) -> None:
    data = os.urandom(6 * 1024 * 1024 + 17)  # over one multipart part: still one PUT
    path = tmp_path / "original"
    path.write_bytes(data)
    key = f"tests/put-file/{uuid.uuid4()}"

    stored = await storage.put_file(key, path, length=len(data), content_type="image/png")

    assert (stored.size, stored.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert b"".join([chunk async for chunk in storage.iter_object(key)]) == data
    assert (await storage.stat(key)).content_type == "image/png"
    await storage.delete([key])


async def test_a_file_of_another_length_than_expected_is_not_stored(
    storage: Storage, tmp_path: Path
) -> None:
    path = tmp_path / "original"
    path.write_bytes(b"short")
    key = f"tests/put-file/{uuid.uuid4()}"

    with pytest.raises(OSError, match="expected 6 bytes"):
        await storage.put_file(key, path, length=6, content_type="image/png")

    with pytest.raises(ObjectNotFound):
        await storage.stat(key)
