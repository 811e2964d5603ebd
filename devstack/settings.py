"""Settings of the dev/test stack: the service's settings plus where and how to run its servers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from core.config import Settings, comma_separated

# Every server the stack can run itself; the rest of the children (migrate, worker, api) always run.
EMBEDDABLE: tuple[str, ...] = ("postgres", "temporal", "s3", "fake_replicate")


class StackSettings(Settings):
    """`Settings` plus the stack's own: data directory, embedded servers, timeouts, internal ports.

    Read like `Settings`, from the environment and then `.env`. Every port of every listener is a
    setting, so that the test stack can move all of them to free ports.
    """

    # All state (databases, objects, logs) lives here; `make up` again finds it.
    data_dir: Path = Path(".data")
    # The servers the stack starts itself; the others are external and only health-checked.
    embedded: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(EMBEDDABLE))

    health_timeout: float = 60.0  # seconds a child has to answer its health check
    stop_timeout: float = 10.0  # seconds between the stop signal and SIGKILL
    migrate_timeout: float = 120.0  # seconds `alembic upgrade head` may take
    restart_limit: int = 5  # restarts of one child allowed within restart_window...
    restart_window: float = 60.0  # ...seconds; beyond it the stack gives up

    # The embedded SeaweedFS's one identity (the service itself has no default secret).
    s3_secret_key: SecretStr = SecretStr("mediagen-secret")

    # The fake provider (devstack/fake_replicate); the stack points REPLICATE_BASE_URL at it.
    fake_replicate_port: int = 8100

    # Temporal dev server's extra listeners; 0 lets it pick a free port.
    temporal_http_port: int = 0
    temporal_metrics_port: int = 0

    # SeaweedFS (`weed mini`) internal listeners. The admin server's gRPC port is always
    # s3_admin_port + 10000: weed's embedded worker dials that address whatever is configured.
    s3_master_port: int = 9333
    s3_master_grpc_port: int = 19333
    s3_volume_port: int = 9340
    s3_volume_grpc_port: int = 19340
    s3_filer_port: int = 8888
    s3_filer_grpc_port: int = 18888
    s3_grpc_port: int = 18333
    s3_admin_port: int = 23646

    # `.env` holds a comma-separated list: `EMBEDDED=postgres,temporal` (empty: none).
    _split_embedded = field_validator("embedded", mode="before")(comma_separated)

    @field_validator("embedded")
    @classmethod
    def _known_servers(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(EMBEDDABLE))
        if unknown:
            raise ValueError(f"unknown servers {unknown}; choose among {list(EMBEDDABLE)}")
        return value

    def is_embedded(self, name: str) -> bool:
        """Whether the stack starts server `name` itself (the fake only without a real token)."""
        if name == "fake_replicate" and self.replicate_api_token.get_secret_value():
            return False
        return name in self.embedded

    @property
    def provider_base_url(self) -> str:
        """The fake's URL, unless a token or an explicit `REPLICATE_BASE_URL` names another API."""
        if self.replicate_base_url or self.replicate_api_token.get_secret_value():
            return super().provider_base_url
        return f"http://127.0.0.1:{self.fake_replicate_port}/v1"

    @property
    def data_path(self) -> Path:
        """The data directory, absolute."""
        return self.data_dir.expanduser().resolve()

    @property
    def api_url(self) -> str:
        """Where the API listens, as a URL reachable from this machine."""
        host = "127.0.0.1" if self.api_host in ("0.0.0.0", "") else self.api_host
        return f"http://{host}:{self.api_port}"

    @property
    def worker_metrics_url(self) -> str:
        """Where the worker serves its Prometheus metrics, as reachable from this machine."""
        host = self.worker_metrics_host
        return (
            f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{self.worker_metrics_port}"
        )

    @property
    def s3_url(self) -> str:
        """The S3 endpoint as a URL."""
        return f"{'https' if self.s3_secure else 'http'}://{self.s3_endpoint}"

    def port_of(self, url: str) -> int:
        """The port in a URL or `host:port` address."""
        parsed = urlsplit(url if "//" in url else f"//{url}")
        if parsed.port is None:
            raise ValueError(f"{url!r} names no port")
        return parsed.port

    def host_of(self, url: str) -> str:
        """The host in a URL or `host:port` address."""
        return urlsplit(url if "//" in url else f"//{url}").hostname or "127.0.0.1"
