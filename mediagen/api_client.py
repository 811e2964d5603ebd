"""The service's REST API as the `mediagen` client commands use it.

Configured by `MEDIAGEN_URL` (default `http://localhost:8000`) and `MEDIAGEN_API_KEY`
(default: the key `make up` wrote to `.data/api-key`, when that file exists). Every failure
becomes `ClientError`, one line a person can act on: the commands print it and exit 1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

KEY_FILE = Path(".data/api-key")
TIMEOUT = httpx.Timeout(30.0, connect=5.0)
# The events stream sends a comment at least every 15 s: a read waits a little longer.
STREAM_TIMEOUT = httpx.Timeout(30.0, connect=5.0, read=45.0)


def _key_from_file() -> SecretStr:
    try:
        return SecretStr(KEY_FILE.read_text().strip())
    except OSError:
        return SecretStr("")


class ClientSettings(BaseSettings):
    """The client's settings: where the API is, and the key it presents."""

    model_config = SettingsConfigDict(env_prefix="MEDIAGEN_", extra="ignore")

    url: str = "http://localhost:8000"
    api_key: SecretStr = Field(default_factory=_key_from_file)


class ClientError(Exception):
    """What went wrong, as one line."""


@dataclass(frozen=True)
class Event:
    """One server-sent event of a job's stream."""

    name: str
    id: str | None
    job: dict[str, Any]


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if isinstance(detail, list):  # FastAPI's validation errors: say which field and why
        detail = "; ".join(
            f"{'.'.join(str(part) for part in item.get('loc', [])[1:])}: {item.get('msg')}"
            for item in detail
            if isinstance(item, dict)
        )
    return str(detail or response.reason_phrase)


class ApiClient:
    """A synchronous client of one service (a command makes a few calls, one at a time)."""

    def __init__(self, settings: ClientSettings) -> None:
        key = settings.api_key.get_secret_value()
        if not key:
            raise ClientError("no API key: set MEDIAGEN_API_KEY (make up writes .data/api-key)")
        self._base = settings.url.rstrip("/")
        self._http = httpx.Client(
            base_url=self._base, headers={"Authorization": f"Bearer {key}"}, timeout=TIMEOUT
        )

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ClientError(f"cannot reach {self._base}: {exc}") from None
        if response.is_error:
            raise ClientError(f"{response.status_code}: {_detail(response)}")
        return response

    def generate(self, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self._call("POST", "/api/v1/generate", json=body).json())

    def upload(self, path: Path, variants: str | None) -> dict[str, Any]:
        data = {"variants": variants} if variants else None
        try:
            with path.open("rb") as file:
                files = {"file": (path.name, file, "application/octet-stream")}
                return dict(self._call("POST", "/api/v1/uploads", files=files, data=data).json())
        except OSError as exc:
            raise ClientError(f"cannot read {path}: {exc.strerror}") from None

    def status(self, job_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/api/v1/status/{job_id}").json())

    def jobs(self, **query: Any) -> dict[str, Any]:
        params = {name: value for name, value in query.items() if value is not None}
        return dict(self._call("GET", "/api/v1/jobs", params=params).json())

    def cancel(self, job_id: str) -> dict[str, Any]:
        return dict(self._call("DELETE", f"/api/v1/jobs/{job_id}").json())

    def save(self, url: str, target: Path) -> int:
        """Stream `url` (a path of the API or a signed media URL) into `target`: its size."""
        try:
            with self._http.stream("GET", url) as response:
                if response.is_error:
                    response.read()
                    raise ClientError(f"{response.status_code}: {_detail(response)}")
                size = 0
                with target.open("wb") as file:
                    for chunk in response.iter_bytes():
                        file.write(chunk)
                        size += len(chunk)
        except httpx.HTTPError as exc:
            raise ClientError(f"cannot download {url}: {exc}") from None
        except OSError as exc:
            raise ClientError(f"cannot write {target}: {exc.strerror}") from None
        return size

    def events(self, job_id: str) -> Iterator[Event]:
        """The job's events (`status`, `progress`, a last `done`) as they happen."""
        path = f"/api/v1/jobs/{job_id}/events"
        try:
            with self._http.stream("GET", path, timeout=STREAM_TIMEOUT) as response:
                if response.is_error:
                    response.read()
                    raise ClientError(f"{response.status_code}: {_detail(response)}")
                yield from _parse_events(response.iter_lines())
        except httpx.HTTPError as exc:
            raise ClientError(f"the events stream of {job_id} broke: {exc}") from None


def _parse_events(lines: Iterator[str]) -> Iterator[Event]:
    """Server-sent events: `event:`, `id:` and `data:` lines, a blank line ending each."""
    name, event_id, data = "message", None, list[str]()
    for line in lines:
        if not line:
            if data:
                yield Event(name, event_id, json.loads("\n".join(data)))
            name, event_id, data = "message", None, list[str]()
        elif line.startswith(":"):
            continue  # a keep-alive comment
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "id":
                event_id = value
            elif field == "data":
                data.append(value)
