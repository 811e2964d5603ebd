"""Settings: the only code that reads the environment or `.env`."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.hostlist import HostList
from core.jobs import OutputLimits
from core.variant_presets import DEFAULT_PRESETS, VariantPreset

REPLICATE_URL = "https://api.replicate.com/v1"


class MissingProvider(ValueError):
    """No provider is configured; the message says what to set."""


def comma_separated(cls: type, value: object) -> object:
    """A list setting given as one string in the environment or `.env`: `A=x,y` → `[x, y]`."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """Every setting of the service, read from the environment and then `.env`.

    Environment names match the upper-cased field names; Temporal's match the
    Temporal CLI's own (`TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`).
    """

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    service_name: str = "mediagen"

    # API
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    public_base_url: str = "http://localhost:8000"
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["*"])
    max_body_bytes: int = 1_048_576
    media_delivery: Literal["stream", "redirect"] = "stream"
    # DELETE waits this long for the workflow to finish cancelling before it answers.
    cancel_wait_seconds: float = 5.0
    # Quotas per owner (per-key overrides are stored on the key): submits per minute, as a
    # token bucket (600 is Replicate's own limit on creating predictions), and jobs pending
    # or processing at once.
    submit_rate_limit_per_minute: int = Field(default=600, ge=1)
    max_active_jobs_per_owner: int = Field(default=100, ge=1)
    # Media URLs in job documents are signed with the first secret and accepted with any
    # (rotate by putting the new one first); they expire after this many seconds.
    media_signing_secrets: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    media_url_ttl_seconds: int = Field(default=3600, ge=1)
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"

    # PostgreSQL
    database_url: str = "postgresql+asyncpg://mediagen@127.0.0.1:5432/mediagen"
    database_pool_size: int = 10

    # Temporal
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_task_queue: str = "mediagen"
    temporal_ui_url: str = "http://127.0.0.1:8233"

    # Object store (MinIO or any S3)
    s3_endpoint: str = "127.0.0.1:8333"
    s3_access_key: SecretStr = SecretStr("mediagen")
    s3_secret_key: SecretStr = SecretStr("")
    s3_bucket: str = "media"
    s3_region: str = "us-east-1"
    s3_secure: bool = False

    # Provider: Replicate itself with a token, or any API that speaks Replicate's at
    # REPLICATE_BASE_URL (the dev stack's fake, a proxy). Neither set: nothing starts.
    replicate_api_token: SecretStr = SecretStr("")
    replicate_base_url: str = ""
    # `Prefer: wait` on create: a fast model answers finished, saving a poll.
    replicate_prefer_wait: int = Field(default=2, ge=0, le=10)
    # Ask the provider for `logs` webhooks, which carry the tqdm lines a job's progress is
    # read from (the API writes it to the row). Off: progress moves only with the safety
    # polls and at the end, and the API takes no webhook per log line (bench progress).
    provider_logs_progress: bool = True
    # Models a job may ask for: comma-separated fnmatch patterns (`owner/*`, `owner/name`,
    # `owner/name:version`); one without `:version` allows any version. Empty: any model.
    allowed_models: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Where the provider can reach our webhook endpoint; empty means poll only.
    webhook_base_url: str = ""
    # Hosts a job's `webhook_url` may name although they are not public (`host`,
    # `host:port`, `*.domain`, `[v6]:port`; no port: any port); they may use http too.
    # The service's own API stays refused even if listed.
    webhook_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # What one job may store: a prediction with more outputs, or an output larger than
    # this, fails the job with nothing stored (a text model can answer hundreds of strings).
    max_outputs: int = Field(default=16, ge=1)
    max_output_bytes: int = Field(default=500_000_000, ge=1)
    # Where outputs may be downloaded from (`host`, `host:port`, `*.domain`; never under the
    # provider's API base URL) and what they may be (`type/*` or exact; SVG never).
    output_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["replicate.delivery", "*.replicate.delivery"]
    )
    output_allowed_types: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["image/*", "video/*", "audio/*"]
    )

    # Images: an upload over either limit is refused (413, 422) before any pixel is decoded;
    # the variant presets (JSON list, core/variant_presets.py); how many images the worker
    # decodes at once (each holds a few of its rows in memory, streamed by libvips).
    upload_max_bytes: int = Field(default=50_000_000, ge=1)
    upload_max_pixels: int = Field(default=50_000_000, ge=1)
    variant_presets: list[VariantPreset] = Field(default_factory=lambda: list(DEFAULT_PRESETS))
    image_max_concurrency: int = Field(default=2, ge=1)

    # Worker
    # uvloop costs the worker 5-12 % less CPU per job than asyncio's own loop
    # (docs/BENCHMARKS.md, "worker-loop"); asyncio is there for platforms without uvloop.
    worker_event_loop: Literal["uvloop", "asyncio"] = "uvloop"
    worker_max_concurrent_activities: int = 500
    worker_max_concurrent_workflow_tasks: int = 100
    # Workflows kept in memory between their tasks; one evicted is replayed from its history
    # when it wakes. Each costs the worker tens of KB (docs/BENCHMARKS.md, figure 4).
    worker_max_cached_workflows: int = 2000
    # How long a workflow task waits for the worker that has its workflow cached before any
    # worker may take it and replay the whole history. The SDK's 10 s turns a backlog into
    # replays (docs/BENCHMARKS.md, "sticky"). It does not hold jobs to a dead worker: the
    # server sends tasks to the shared queue once the sticky one has no poller for ~10 s.
    worker_sticky_timeout_seconds: float = Field(default=60, gt=0)
    # SIGTERM lets running activities finish for this long; the SDK's 0 s cancels uploads midway.
    worker_graceful_shutdown_seconds: float = Field(default=60, ge=0)
    # Where the worker serves Temporal SDK metrics; 0.0.0.0 lets another container scrape.
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = 9464
    # How often the reconciler ends rows whose workflow closed unmirrored (terminated, timed out).
    reconcile_every_seconds: float = Field(default=60, gt=0)

    @property
    def provider_base_url(self) -> str:
        """The predictions API in force: explicit, else Replicate's with a token.

        Raises:
            MissingProvider: neither is set (a deployment that forgot its token must not
                start and silently talk to nothing).
        """
        if self.replicate_base_url:
            return self.replicate_base_url.rstrip("/")
        if self.replicate_api_token.get_secret_value():
            return REPLICATE_URL
        raise MissingProvider(
            "no provider configured: set REPLICATE_API_TOKEN (Replicate) or REPLICATE_BASE_URL"
            " (an API that speaks Replicate's, such as the dev stack's fake)"
        )

    def output_limits(self) -> OutputLimits:
        """The limits a job accepted now is held to."""
        return OutputLimits(max_outputs=self.max_outputs, max_output_bytes=self.max_output_bytes)

    _split_origins = field_validator("cors_origins", mode="before")(comma_separated)
    _split_secrets = field_validator("media_signing_secrets", mode="before")(comma_separated)
    _split_outputs = field_validator("output_allowed_hosts", "output_allowed_types", mode="before")(
        comma_separated
    )
    _split_webhook_hosts = field_validator("webhook_allowed_hosts", mode="before")(comma_separated)

    @field_validator("webhook_allowed_hosts", "output_allowed_hosts")
    @classmethod
    def _host_entries(cls, value: list[str]) -> list[str]:
        """A bad entry stops the process at start, naming it, not each request later."""
        HostList.parse(value)
        return value

    _split_models = field_validator("allowed_models", mode="before")(comma_separated)


def required_or_exit(settings: Settings) -> str:
    """The provider's URL; a process missing it or a secret exits with one line saying what
    to set. No secret has a default: a deployment that forgets one must not start with a
    development value. Media URLs are signed by the API and the worker alike (user
    webhooks carry the job document)."""
    missing = []
    try:
        provider = settings.provider_base_url
    except MissingProvider as exc:
        missing.append(str(exc))
    if not settings.media_signing_secrets:
        missing.append(
            "no MEDIA_SIGNING_SECRETS: set a long random string (`openssl rand -hex 32`);"
            " a comma-separated list rotates them"
        )
    if not settings.s3_secret_key.get_secret_value():
        missing.append("no S3_SECRET_KEY: set the object store's secret key")
    if missing:
        raise SystemExit(f"{settings.service_name}: " + "; ".join(missing))
    return provider


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()
