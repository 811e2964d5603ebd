"""Where an upload waits on disk while it is checked: a directory of its own, removed when its
request ends, and swept at startup when an API process died with it."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path

UPLOAD_DIR_PREFIX = "mediagen-upload-"
# An upload directory untouched this long is no request's any more (an upload takes minutes).
STALE_AFTER = timedelta(hours=1)


async def new_upload_dir() -> Path:
    """A fresh directory for one upload, in the system's temporary directory."""
    return Path(await asyncio.to_thread(tempfile.mkdtemp, prefix=UPLOAD_DIR_PREFIX))


def sweep_stale_upload_dirs(root: Path | None = None, *, now: float | None = None) -> int:
    """Remove the upload directories a killed API left behind; returns how many.

    Other API processes may share the temporary directory, so only directories whose
    newest entry is older than STALE_AFTER are taken (a file being written is not).
    """
    root = Path(tempfile.gettempdir()) if root is None else root
    cutoff = (time.time() if now is None else now) - STALE_AFTER.total_seconds()
    removed = 0
    for directory in root.glob(f"{UPLOAD_DIR_PREFIX}*"):
        try:
            newest = max(entry.stat().st_mtime for entry in [directory, *directory.iterdir()])
        except OSError:  # gone meanwhile, or not a directory
            continue
        if newest < cutoff:
            shutil.rmtree(directory, ignore_errors=True)
            removed += 1
    return removed
