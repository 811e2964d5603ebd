"""Where a provider's output may be downloaded from (issue #16).

An output URL is chosen by the provider, and through it by the model a user picks, so it is
checked before each request, and again at each redirect:

- absolute `http` or `https`, no credentials in it;
- its host (and port) in `OUTPUT_ALLOWED_HOSTS`;
- never under the provider's API base URL (where our token would be worth something),
  even on an allowed host;
- the host's addresses all global (as for user webhooks), unless the host is listed by name
  (not only through a `*.` entry): a deployment that lists a host means it.

Every refusal is an `OutputRefused` whose message names the host and the rule, never the URL
(signed URLs carry tokens in their query).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx

from core.addresses import IPAddress, Resolver, literal_address, refusal_of, system_resolver
from core.hostlist import HostList, normal_host
from core.replicate import ReplicateClient
from core.sniff import DEFAULT_ALLOWED, Peeked, peek, stored_type

# Redirects followed for one output, each checked as the first URL was.
MAX_REDIRECTS = 5


class OutputRefused(Exception):
    """An output URL that breaks a rule; the message names its host and the rule."""

    def __init__(self, host: str, rule: str) -> None:
        super().__init__(f"at {host or 'no host'} refused: {rule}")
        self.host = host
        self.rule = rule


def _port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def _under(url: httpx.URL, base: httpx.URL) -> bool:
    """Whether `url` is on `base`'s origin and at or below its path."""
    if (url.scheme, normal_host(url.host), _port(url)) != (
        base.scheme,
        normal_host(base.host),
        _port(base),
    ):
        return False
    prefix = base.path.rstrip("/")
    path = url.path
    return not prefix or path == prefix or path.startswith(prefix + "/")


@dataclass(frozen=True)
class OutputRules:
    """The rules, from the settings: allowed hosts and the provider's API base URL."""

    allowed_hosts: HostList
    api_base_url: str
    resolver: Resolver = field(default=system_resolver)

    @classmethod
    def build(
        cls, allowed_hosts: list[str], api_base_url: str, resolver: Resolver | None = None
    ) -> OutputRules:
        return cls(HostList.parse(allowed_hosts), api_base_url, resolver or system_resolver)

    def _named(self, host: str, port: int) -> bool:
        """Whether `host` is listed by name (or address), not only under a `*.` entry."""
        host = normal_host(host)
        return any(
            not entry.wildcard and entry.matches(host, port) for entry in self.allowed_hosts.entries
        )

    def parse(self, url: str) -> httpx.URL:
        """The URL if its form and host pass (no DNS); `OutputRefused` names the rule broken."""
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError):
            raise OutputRefused("", "not a valid URL") from None
        host = parsed.host
        if not parsed.is_absolute_url or not host:
            raise OutputRefused(host, "not an absolute URL (a relative one names the API)")
        if parsed.scheme not in ("http", "https"):
            raise OutputRefused(host, f"scheme {parsed.scheme!r} is not http or https")
        if parsed.userinfo:
            raise OutputRefused(host, "credentials in the URL")
        if _under(parsed, httpx.URL(self.api_base_url.rstrip("/") or "/")):
            raise OutputRefused(host, "under the provider's API base URL")
        if not self.allowed_hosts.allows(host, _port(parsed)):
            raise OutputRefused(f"{host}:{_port(parsed)}", "host not in OUTPUT_ALLOWED_HOSTS")
        return parsed

    async def check(self, url: str) -> httpx.URL:
        """`parse`, then the host's addresses (unless listed by name); the URL if all pass."""
        parsed = self.parse(url)
        host, port = parsed.host, _port(parsed)
        if self._named(host, port):
            return parsed
        literal = literal_address(host)
        if literal is not None:
            addresses: list[IPAddress] = [literal]
        else:
            # A resolver failure (OSError) is left to the activity's retries: it may pass.
            addresses = await self.resolver(host, port)
        if not addresses:
            raise OutputRefused(host, "its name does not resolve")
        for address in addresses:
            reason = refusal_of(address)
            if reason is not None:
                raise OutputRefused(host, f"it resolves to {address}, a {reason}")
        return parsed

    def redirect(self, response: httpx.Response) -> str:
        """Where a 3xx answer points, made absolute against the URL that answered."""
        location = response.headers.get("Location")
        if not location:
            raise OutputRefused(response.request.url.host, "a redirect without a Location")
        try:
            return str(response.request.url.join(location))
        except (httpx.InvalidURL, ValueError):
            raise OutputRefused(response.request.url.host, "a redirect to no valid URL") from None


def download_http(*, timeout: float = 30.0) -> httpx.AsyncClient:
    """The client outputs are fetched with: no base URL, no credentials, no redirects."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=5.0),
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=100),
        follow_redirects=False,
        trust_env=False,
    )


@dataclass(frozen=True)
class Downloads:
    """What `store_output` fetches outputs with: the rules, a plain client, allowed types."""

    rules: OutputRules
    http: httpx.AsyncClient
    allowed_types: tuple[str, ...] = DEFAULT_ALLOWED

    @asynccontextmanager
    async def open(self, replicate: ReplicateClient, url: str) -> AsyncIterator[Output]:
        """The output at `url`, fetched by the rules, its type decided from its first bytes.

        Raises:
            OutputRefused: the URL (or a redirect) breaks a rule.
            ContentRefused: the bytes are not an allowed type.
        """
        async with replicate.stream_file(
            url,
            http=self.http,
            check=self.rules.check,
            redirect=self.rules.redirect,
            max_redirects=MAX_REDIRECTS,
        ) as response:
            body = await peek(response.aiter_bytes(64 * 1024))
            declared = response.headers.get("Content-Type", "")
            content_type, ext = stored_type(
                declared, response.request.url, body.head, self.allowed_types
            )
            length = response.headers.get("Content-Length", "")
            yield Output(body, content_type, ext, int(length) if length.isdigit() else None)


@dataclass(frozen=True)
class Output:
    """An output being fetched: its bytes (first ones already read), type, extension, length."""

    body: Peeked
    content_type: str
    ext: str
    length: int | None
