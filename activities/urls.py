"""The service's outside addresses, for what activities write down and send."""

from __future__ import annotations

from dataclasses import dataclass

from core.keys import media_name


@dataclass(frozen=True)
class Urls:
    """The public base URL (downloads, media) and the provider's webhook base URL."""

    public_base_url: str
    webhook_base_url: str = ""

    def download(self, job_id: str) -> str:
        return f"{self.public_base_url}/api/v1/download/{job_id}"

    def media(self, key: str) -> str:
        """Where a stored media object or variant is served (unsigned: documents sign it)."""
        return f"{self.public_base_url}/media/{media_name(key)}"

    @property
    def provider_calls_back(self) -> bool:
        """Whether the provider can reach our webhook route (else the workflow polls)."""
        return bool(self.webhook_base_url)

    def provider_webhook(self, job_id: str, job_attempt: int) -> str:
        """The webhook a create names: it traces the prediction to its job and attempt even
        where the provider cannot reach it (poll-only deployments)."""
        base = (self.webhook_base_url or self.public_base_url).rstrip("/")
        return f"{base}/api/v1/webhooks/replicate/{job_id}?attempt={job_attempt}"
