"""The dev stack's own secrets and its API key, kept in the data directory across starts.

`make up` must work with nothing configured, yet the service refuses development secrets
in production: so the stack makes its media signing secret and an admin API key on its
first start, keeps them in `DATA_DIR` (mode 0600), and reuses them on later starts.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path

from core.api_keys import create_key, get_key, parse_token
from core.config import Settings
from core.db import make_engine, make_session_factory

API_KEY_FILE = "api-key"
SIGNING_SECRET_FILE = "media-signing-secret"
STACK_KEY_NAME = "devstack"


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text + "\n")


def stored_secret(data_dir: Path) -> str:
    """The stack's media signing secret: made on first use, then read back."""
    path = data_dir / SIGNING_SECRET_FILE
    if not path.exists():
        _write_private(path, secrets.token_hex(32))
    return path.read_text().strip()


def read_api_key(data_dir: Path) -> str | None:
    """The key `ensure_api_key` wrote, if any."""
    path = data_dir / API_KEY_FILE
    return path.read_text().strip() if path.exists() else None


async def _ensure(settings: Settings, data_dir: Path) -> None:
    engine = make_engine(settings)
    try:
        async with make_session_factory(engine)() as session:
            token = read_api_key(data_dir)
            parts = parse_token(token) if token else None
            if token and parts is not None:
                record = await get_key(session, parts[0])
                if record is not None and record.revoked_at is None:
                    return
            new = await create_key(session, name=STACK_KEY_NAME, owner="local", admin=True)
    finally:
        await engine.dispose()
    _write_private(data_dir / API_KEY_FILE, new.token)


def ensure_api_key(settings: Settings, data_dir: Path) -> None:
    """The stack's admin key, in `DATA_DIR/api-key`: reused while the database knows it
    unrevoked, else minted anew (a wiped database, a revoked key)."""
    asyncio.run(_ensure(settings, data_dir))
