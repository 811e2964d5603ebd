"""Upload directories a killed API left behind are swept at startup, and only those."""

from __future__ import annotations

import os
import time
from pathlib import Path

from api.upload_dirs import STALE_AFTER, UPLOAD_DIR_PREFIX, sweep_stale_upload_dirs

LONG_AGO = time.time() - STALE_AFTER.total_seconds() - 60


def upload_dir(root: Path, name: str, *, file_touched_at: float, dir_touched_at: float) -> Path:
    directory = root / name
    directory.mkdir()
    original = directory / "original"
    original.write_bytes(b"part of an image")
    os.utime(original, (file_touched_at, file_touched_at))
    os.utime(directory, (dir_touched_at, dir_touched_at))
    return directory


def test_only_upload_dirs_untouched_for_an_hour_are_removed(tmp_path: Path) -> None:
    left = upload_dir(
        tmp_path, f"{UPLOAD_DIR_PREFIX}left", file_touched_at=LONG_AGO, dir_touched_at=LONG_AGO
    )
    # Another API process is still receiving this one: its file is being written.
    receiving = upload_dir(
        tmp_path, f"{UPLOAD_DIR_PREFIX}live", file_touched_at=time.time(), dir_touched_at=LONG_AGO
    )
    fresh = upload_dir(
        tmp_path, f"{UPLOAD_DIR_PREFIX}new", file_touched_at=time.time(), dir_touched_at=time.time()
    )
    not_ours = upload_dir(
        tmp_path, "other-app-1", file_touched_at=LONG_AGO, dir_touched_at=LONG_AGO
    )

    assert sweep_stale_upload_dirs(tmp_path) == 1

    assert not left.exists()
    assert [d.exists() for d in (receiving, fresh, not_ours)] == [True, True, True]
    assert sweep_stale_upload_dirs(tmp_path) == 0
