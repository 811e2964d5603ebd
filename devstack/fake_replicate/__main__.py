"""`python -m devstack.fake_replicate`: serve the fake on FAKE_REPLICATE_HOST:FAKE_REPLICATE_PORT."""

from __future__ import annotations

import uvicorn

from devstack.fake_replicate.app import create_app
from devstack.fake_replicate.settings import FakeReplicateSettings


def main() -> None:
    settings = FakeReplicateSettings()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        # Hung requests (hang faults) must not hold a shutdown for `hang_seconds`.
        timeout_graceful_shutdown=2,
    )


if __name__ == "__main__":
    main()
