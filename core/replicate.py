"""ReplicateClient: a small typed wrapper around an injected `httpx.AsyncClient`.

It knows nothing about Temporal and never retries (Temporal does; stacked retries hide
failures). Errors form a small hierarchy, so callers decide what is worth retrying:

    ProviderError
    ├── ProviderUnavailable      5xx, timeouts, connection errors: retry with backoff
    │   ├── ProviderUnreachable  no connection was made: the request never arrived
    │   └── ProviderRateLimited  429: retry after `retry_after` seconds
    └── ProviderRejected         any other 4xx: the request is wrong, never retry
        └── OutputUnavailable    an output URL answered 403/404/410 (expired or gone) or a
                                 redirect (not followed): never retry

Every failure but `ProviderUnreachable`, `ProviderRateLimited` and `ProviderRejected` is
ambiguous for a create: the provider may have started (and will bill) the prediction.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import httpx

from core.jobs import Prediction
from core.predictions import parse_prediction

# Pages of the predictions list read while looking for a lost create, at most.
_MAX_LIST_PAGES = 50

_VERSION_ID = re.compile(r"^[0-9a-f]{64}$")
# How much of an error's body is read to describe it: a CDN's error page may be large.
_ERROR_BODY_LIMIT = 4096
# What an output URL answers once it has expired or its file was removed.
_GONE = frozenset({403, 404, 410})


class ProviderError(Exception):
    """The provider could not do what was asked."""


class ProviderUnavailable(ProviderError):
    """A transient failure: worth trying again later."""


class ProviderUnreachable(ProviderUnavailable):
    """The connection failed (refused, DNS, connect timeout): nothing reached the provider."""


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


class OutputUnavailable(ProviderRejected):
    """An output file no retry can fetch: expired or gone (403/404/410), or a redirect.

    The message names the host, never the URL: signed URLs carry tokens in their query.
    """


def _problem(content: bytes) -> str:
    """The `detail` of a problem+json answer, or the start of whatever the body is."""
    try:
        body = json.loads(content)
    except ValueError:
        return content[:200].decode("utf-8", "replace")
    if isinstance(body, dict):
        detail = body.get("detail") or body.get("title") or body
        return str(detail)
    return str(body)[:200]


async def _error_body(response: httpx.Response) -> bytes:
    """The start of a streamed response's body: at most `_ERROR_BODY_LIMIT` bytes are read."""
    content = b""
    async for chunk in response.aiter_bytes():
        content += chunk
        if len(content) >= _ERROR_BODY_LIMIT:
            break
    return content[:_ERROR_BODY_LIMIT]


def _raise_for_status(response: httpx.Response, content: bytes | None = None) -> None:
    """The hierarchy's error for a 4xx or 5xx; `content` is the body when it was not read."""
    code = response.status_code
    if code < 400:
        return
    body = response.content if content is None else content
    message = f"provider answered {code}: {_problem(body)}"
    if code == 429:
        retry_after = response.headers.get("Retry-After", "1")
        raise ProviderRateLimited(message, float(retry_after) if retry_after.isdigit() else 1.0)
    if code >= 500 or code == 408:
        raise ProviderUnavailable(message)
    raise ProviderRejected(message, code)


async def _raise_for_output_status(response: httpx.Response) -> None:
    """Like `_raise_for_status`, for an output file, where gone and redirected are final."""
    code, host = response.status_code, response.request.url.host
    if 300 <= code < 400:
        # Followed blindly, a redirect could lead anywhere (issue #16 adds checked ones).
        raise OutputUnavailable(
            f"output at {host} answered {code} (a redirect): redirects are not followed", code
        )
    if code in _GONE:
        raise OutputUnavailable(
            f"output at {host} answered {code} {response.reason_phrase}: "
            "its URL has expired or the file is gone",
            code,
        )
    if code >= 400:
        _raise_for_status(response, await _error_body(response))


def _other_prompt(item: dict[str, Any], prompt: str) -> bool:
    """Whether a list item's input shows a prompt, and not `prompt`."""
    listed = item.get("input")
    return isinstance(listed, dict) and "prompt" in listed and listed["prompt"] != prompt


class ReplicateClient:
    """Replicate's predictions API (or any API that speaks it) through one shared httpx client."""

    def __init__(self, http: httpx.AsyncClient, *, logs_events: bool = True) -> None:
        self._http = http
        # `logs` webhooks carry progress (Settings.provider_logs_progress).
        self._events = ["start", "logs", "completed"] if logs_events else ["start", "completed"]

    @staticmethod
    def build_http(base_url: str, token: str, *, timeout: float = 30.0) -> httpx.AsyncClient:
        """The one httpx client: base URL, auth and explicit timeouts, set once."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/",
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=5.0),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=100),
        )

    async def _request(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self._http.request(method, url, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ProviderUnreachable(f"{type(exc).__name__}: {exc}") from exc
        except httpx.TransportError as exc:  # read timeouts, reset connections, lost answers
            raise ProviderUnavailable(f"{type(exc).__name__}: {exc}") from exc
        _raise_for_status(response)
        body: dict[str, Any] = response.json()
        return body

    async def create_prediction(
        self,
        *,
        model: str,
        input: dict[str, Any],
        webhook: str,
        wait_seconds: int = 0,
        cancel_after_seconds: int | None = None,
    ) -> Prediction:
        """Create a prediction for `owner/name` or `owner/name:version`.

        With `wait_seconds`, the provider holds the answer until the prediction finishes
        or the time runs out (`Prefer: wait`), which saves a poll for fast models. The
        webhook names the job, so every prediction we start can be traced to it; the
        `start` event lets the job cancel a prediction that is not its own (a lost create);
        `logs` events carry the progress (the API writes it to the row, signalling nothing).
        With `cancel_after_seconds` the provider cancels it itself past that (`Cancel-After`).
        """
        body: dict[str, Any] = {
            "input": input,
            "webhook": webhook,
            "webhook_events_filter": self._events,
        }
        headers = {"Prefer": f"wait={wait_seconds}"} if wait_seconds else {}
        if cancel_after_seconds:
            headers["Cancel-After"] = f"{cancel_after_seconds}s"
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

    async def find_prediction(
        self, *, webhook: str, created_after: datetime, prompt: str
    ) -> Prediction | None:
        """The prediction created since `created_after` whose webhook is `webhook`, if any.

        Follows the list's cursor pages (only on the API's own host). Replicate's list shows
        each item's input but not its webhook: an item whose input names another `prompt`
        cannot be ours and is skipped, any other is fetched whole. (Fetching every item
        costs a request per recent prediction, and any of them may fail.)
        """
        url: str | None = "predictions"
        params: dict[str, str] | None = {"created_after": created_after.isoformat()}
        for _ in range(_MAX_LIST_PAGES):
            if url is None:
                return None
            page = await self._request("GET", url, params=params)
            for item in page.get("results") or []:
                if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                    continue
                if "webhook" not in item:
                    if _other_prompt(item, prompt):
                        continue
                    item = await self._request("GET", f"predictions/{item['id']}")
                if item.get("webhook") == webhook:
                    return parse_prediction(item)
            url, params = self._same_host(page.get("next")), None
        raise ProviderUnavailable(f"more than {_MAX_LIST_PAGES} pages of recent predictions")

    def _same_host(self, url: object) -> str | None:
        """A cursor URL, if it points at the API's own host (it carries our token)."""
        if not isinstance(url, str) or httpx.URL(url).host != self._http.base_url.host:
            return None
        return url

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
    async def stream_file(
        self,
        url: str,
        *,
        http: httpx.AsyncClient | None = None,
        check: Callable[[str], Awaitable[object]] | None = None,
        redirect: Callable[[httpx.Response], str] | None = None,
        max_redirects: int = 0,
    ) -> AsyncIterator[httpx.Response]:
        """An open streamed response for an output URL.

        With `http` (a plain client without credentials, as the worker passes) the file is
        fetched with it; `check` is awaited on each URL before it is requested, and with
        `redirect` (which names the next URL) up to `max_redirects` redirects are followed,
        each checked. Without `http`, the provider's own client is used and the API token is
        only sent to the API's own host. Only a 2xx is yielded: `OutputUnavailable` says the
        file cannot be had, `ProviderUnavailable` that another try may get it.
        """
        client = http or self._http
        for hop in range(max_redirects + 1):
            if check is not None:
                await check(url)
            request = client.build_request("GET", url)
            if http is not None or request.url.host != self._http.base_url.host:
                request.headers.pop("Authorization", None)
            try:
                response = await client.send(request, stream=True, follow_redirects=False)
            except httpx.TransportError as exc:
                raise ProviderUnavailable(f"{type(exc).__name__}: {exc}") from exc
            if redirect is not None and response.is_redirect:
                await response.aclose()
                if hop == max_redirects:
                    raise OutputUnavailable(
                        f"output at {request.url.host} redirected more than {max_redirects} times",
                        response.status_code,
                    )
                url = redirect(response)
                continue
            try:
                await _raise_for_output_status(response)
                yield response
            except httpx.TransportError as exc:
                raise ProviderUnavailable(f"{type(exc).__name__}: {exc}") from exc
            finally:
                await response.aclose()
            return
