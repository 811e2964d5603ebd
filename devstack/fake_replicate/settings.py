"""Settings of the fake Replicate server, read from `FAKE_REPLICATE_*` variables and `.env`."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# A fixed secret so that a restarted fake still matches what a receiver cached.
DEFAULT_WEBHOOK_SECRET = "whsec_e7MdOSiLfph7lFwHPxj8Ofy1tFEZAnpG"

Rate = Annotated[float, Field(ge=0.0, le=1.0)]


class FakeReplicateSettings(BaseSettings):
    """How the fake behaves: where it listens, how long predictions take, which faults it injects.

    Every `*_rate` is a probability in [0, 1] drawn per request (or per prediction for
    `failure_rate`) from an RNG seeded with `seed`; per-request faults chosen by the
    caller through the input's `fake` object are described in `faults.py`.
    """

    model_config = SettingsConfigDict(
        env_prefix="FAKE_REPLICATE_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    host: str = "127.0.0.1"
    port: int = 8100
    # Base of the absolute URLs the fake hands out; empty means http://{host}:{port}.
    public_url: str = ""

    # Seconds from create to a terminal status, drawn uniformly per prediction.
    latency_min: float = Field(default=0.5, ge=0.0)
    latency_max: float = Field(default=2.0, ge=0.0)
    failure_rate: Rate = 0.0

    # Faults of the HTTP API itself (not of the predictions).
    error_rate_5xx: Rate = 0.0
    rate_limit_rate: Rate = 0.0
    retry_after_seconds: int = Field(default=1, ge=0)
    hang_rate: Rate = 0.0
    hang_seconds: float = Field(default=30.0, ge=0.0)
    # Creates that make their prediction but drop the connection before answering.
    lose_answer_rate: Rate = 0.0
    # The shortest `Cancel-After` accepted; Replicate's is 5 s, tests may lower it.
    cancel_after_min_seconds: float = Field(default=5.0, ge=0.0)

    # Faults of output file downloads.
    slow_download_bytes_per_s: int = Field(default=0, ge=0)
    truncate_rate: Rate = 0.0

    webhook_secret: str = DEFAULT_WEBHOOK_SECRET
    webhook_max_attempts: int = Field(default=4, ge=1)
    webhook_backoff_seconds: float = Field(default=0.5, ge=0.0)

    # None draws fresh randomness each run; an int makes latencies, seeds and faults repeatable.
    seed: int | None = None

    page_size: int = Field(default=100, ge=1)
    # The oldest predictions are forgotten past this many, so a long-running dev fake stays small.
    max_predictions: int = Field(default=50_000, ge=1)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.latency_min > self.latency_max:
            raise ValueError("latency_min must not exceed latency_max")
        if not self.webhook_secret.startswith("whsec_"):
            raise ValueError("webhook_secret must look like whsec_<base64>")
        return self

    @property
    def base_url(self) -> str:
        """The scheme://host:port that absolute URLs in responses start with."""
        return self.public_url.rstrip("/") or f"http://{self.host}:{self.port}"
