"""ReplicateClient: a small typed wrapper around an injected `httpx.AsyncClient`.

It knows nothing about Temporal and never retries (Temporal does; stacked retries hide
failures). Errors form a small hierarchy, so callers decide what is worth retrying:

    ProviderError
    ├── ProviderUnavailable      5xx, timeouts, connection errors: retry with backoff
    │   └── ProviderRateLimited  429: retry after `retry_after` seconds
    └── ProviderRejected         any other 4xx: the request is wrong, never retry
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from core.jobs import Prediction

# Replicate's progress lines look like "  50%|█████     | 2/4 [00:01<00:01,  1.9it/s]".
_PROGRESS = re.compile(r"(\d{1,3})%\|")
_VERSION_ID = re.compile(r"^[0-9a-f]{64}$")
# Failed predictions whose error is the user's doing: running them again cannot help.
_USER_ERRORS = re.compile(r"nsfw|invalid input|validation error", re.IGNORECASE)


class ProviderError(Exception):
    """The provider could not do what was asked."""


class ProviderUnavailable(ProviderError):
    """A transient failure: worth trying again later."""


class ProviderRateLimited(ProviderUnavailable):
    """429: the provider asks us to wait `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ProviderRejected(ProviderError):
    """A 4xx other than 429: the request itself is wrong, so repeating it cannot help."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


def parse_prediction(body: dict[str, Any]) -> Prediction:
    """The fields the workflow acts on, from a prediction JSON (API answer or webhook)."""
    output = body.get("output")
    if isinstance(output, str):
        output = [output]
    matches = _PROGRESS.findall(body.get("logs") or "")
    error = str(body["error"]) if body.get("error") else None
    return Prediction.model_validate(
        {
            **{key: body.get(key) for key in ("id", "status")},
            **{key: body.get(key) for key in ("created_at", "started_at", "completed_at")},
            "output": output or [],
            "error": error,
            "user_error": bool(error and _USER_ERRORS.search(error)),
            "progress": int(matches[-1]) / 100 if matches else None,
            "metrics": body.get("metrics") or {},
        }
    )


def _problem(response: httpx.Response) -> str:
    """The `detail` of a problem+json answer, or the start of whatever the body is."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        detail = body.get("detail") or body.get("title") or body
        return str(detail)
    return str(body)[:200]


def _raise_for_status(response: httpx.Response) -> None:
    code = response.status_code
    if code < 400:
        return
    message = f"provider answered {code}: {_problem(response)}"
    if code == 429:
        retry_after = response.headers.get("Retry-After", "1")
        raise ProviderRateLimited(message, float(retry_after) if retry_after.isdigit() else 1.0)
    if code >= 500 or code == 408:
        raise ProviderUnavailable(message)
    raise ProviderRejected(message, code)


class ReplicateClient:
    """Replicate's predictions API (or our fake of it) through one shared httpx client."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    @staticmethod
    def build_http(base_url: str, token: str, *, timeout: float = 30.0) -> httpx.AsyncClient:
        """The one httpx client: base URL, auth and explicit timeouts, set once."""
        headers = {"Authorization": f"Bearer {token or 'fake-token'}"}
        return httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/",
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=5.0),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=100),
        )

    async def _request(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self._http.request(method, url, **kwargs)
        except httpx.TransportError as exc:  # timeouts, refused and reset connections
            raise ProviderUnavailable(f"{type(exc).__name__}: {exc}") from exc
        _raise_for_status(response)
        body: dict[str, Any] = response.json()
        return body

    async def create_prediction(
        self,
        *,
        model: str,
        input: dict[str, Any],
        webhook: str | None = None,
        wait_seconds: int = 0,
    ) -> Prediction:
        """Create a prediction for `owner/name` or `owner/name:version`.

        With `wait_seconds`, the provider holds the answer until the prediction finishes
        or the time runs out (`Prefer: wait`), which saves a poll for fast models.
        """
        body: dict[str, Any] = {"input": input}
        if webhook:
            body["webhook"] = webhook
            # Only the end matters to the workflow; each event it hears costs a workflow task.
            body["webhook_events_filter"] = ["completed"]
        headers = {"Prefer": f"wait={wait_seconds}"} if wait_seconds else {}
        owner_name, _, version = model.partition(":")
        if version:
            url = "predictions"
            body["version"] = version if _VERSION_ID.match(version) else model
        else:
            url = f"models/{owner_name}/predictions"
        timeout = httpx.Timeout(wait_seconds + 30.0, connect=5.0)
        return parse_prediction(
            await self._request("POST", url, json=body, headers=headers, timeout=timeout)
        )

    async def get_prediction(self, prediction_id: str) -> Prediction:
        return parse_prediction(await self._request("GET", f"predictions/{prediction_id}"))

    async def cancel_prediction(self, prediction_id: str) -> Prediction:
        return parse_prediction(await self._request("POST", f"predictions/{prediction_id}/cancel"))

    async def webhook_secret(self) -> str:
        """The secret the provider signs webhooks with (`whsec_…`)."""
        return str((await self._request("GET", "webhooks/default/secret"))["key"])

    async def ping(self) -> None:
        """A cheap authenticated call, for health checks."""
        await self._request("GET", "predictions")

    @asynccontextmanager
    async def stream_file(self, url: str) -> AsyncIterator[httpx.Response]:
        """An open streamed response for an output URL.

        Output files live on another host at Replicate (replicate.delivery): the API token
        is only sent to the API's own host.
        """
        request = self._http.build_request("GET", url)
        if request.url.host != self._http.base_url.host:
            del request.headers["Authorization"]
        try:
            response = await self._http.send(request, stream=True)
            try:
                _raise_for_status(response)
                yield response
            finally:
                await response.aclose()
        except httpx.TransportError as exc:
            raise ProviderUnavailable(f"{type(exc).__name__}: {exc}") from exc
