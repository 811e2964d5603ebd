"""Calls to URLs that users choose (their webhooks), made so they cannot be turned on us.

Every call checks the URL again (`core.addresses.UrlPolicy`) and connects to an address
that check approved, never to what a second DNS answer says: the request goes to the IP,
with the name kept in the `Host` header and in TLS (SNI and certificate verification),
so DNS rebinding between the check and the connect changes nothing. No redirect is
followed, no proxy from the environment is used, at most `max_answer` bytes of the answer
are read and the whole call, resolution included, has one deadline.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass

import certifi
import httpx

from core.addresses import CheckedUrl, IPAddress, RefusedUrl, Resolver, UrlPolicy, system_resolver
from core.config import Settings
from core.hostlist import HostList

__all__ = ["Delivery", "RefusedUrl", "WebhookFailed", "WebhookSender", "webhook_url_policy"]

SEND_TIMEOUT = 20.0  # seconds, the whole call
MAX_ANSWER = 4096  # bytes of the receiver's answer read (for the log), the rest is dropped


def webhook_url_policy(settings: Settings, resolver: Resolver | None = None) -> UrlPolicy:
    """The rules for `webhook_url`, the same at submit and at send time.

    The service's own endpoints (its public URL and the API's listening address) are
    refused even when listed: a webhook pointed at `/api/v1/generate` would start a new
    job for every job that ends.
    """
    return UrlPolicy(
        allowed=HostList.parse(settings.webhook_allowed_hosts),
        own=(settings.public_base_url, f"{settings.api_host}:{settings.api_port}"),
        resolver=resolver or system_resolver,
    )


@dataclass(frozen=True)
class Delivery:
    """The receiver's answer: its status and the start of its body."""

    status: int
    answer: bytes
    address: str


class WebhookFailed(Exception):
    """The receiver answered, but not with a 2xx (a redirect counts as a failure too)."""

    def __init__(self, delivery: Delivery) -> None:
        super().__init__(
            f"the webhook answered {delivery.status}: {delivery.answer[:200]!r}"
            f" (from {delivery.address})"
        )
        self.delivery = delivery


class WebhookSender:
    """POSTs signed bodies to checked webhook URLs; one per worker."""

    def __init__(
        self,
        policy: UrlPolicy,
        *,
        timeout: float = SEND_TIMEOUT,
        max_answer: int = MAX_ANSWER,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.policy = policy
        self._timeout = timeout
        self._max_answer = max_answer
        self._tls = tls or ssl.create_default_context(cafile=certifi.where())

    @classmethod
    def from_settings(cls, settings: Settings, resolver: Resolver | None = None) -> WebhookSender:
        return cls(webhook_url_policy(settings, resolver))

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Delivery:
        """POST `body` to `url`, pinned to an address the policy checked.

        Raises:
            RefusedUrl: the URL (or what its host resolves to now) is not allowed.
            WebhookFailed: the receiver answered other than 2xx.
            httpx.HTTPError, TimeoutError: it could not be reached in time.
        """
        async with asyncio.timeout(self._timeout):
            checked = await self.policy.check(url)
            failure: httpx.TransportError | None = None
            for address in checked.addresses:
                try:
                    delivery = await self._post_to(checked, address, body, headers)
                except httpx.ConnectError as exc:  # try the name's next address
                    failure = exc
                    continue
                if not 200 <= delivery.status < 300:
                    raise WebhookFailed(delivery)
                return delivery
        assert failure is not None
        raise failure

    async def _post_to(
        self, checked: CheckedUrl, address: IPAddress, body: bytes, headers: dict[str, str]
    ) -> Delivery:
        target = checked.url.copy_with(host=str(address))
        extensions = {}
        if checked.url.scheme == "https" and str(address) != checked.host:
            extensions["sni_hostname"] = checked.host  # SNI and the certificate's name
        # A client per call: a pooled connection to this IP made for another name must not
        # carry this request (its TLS was verified for that name).
        async with httpx.AsyncClient(
            verify=self._tls,
            trust_env=False,
            follow_redirects=False,
            timeout=httpx.Timeout(self._timeout),
            limits=httpx.Limits(max_keepalive_connections=0),
        ) as client:
            request = client.build_request(
                "POST",
                target,
                content=body,
                headers={
                    **headers,
                    "Host": checked.url.netloc.decode("ascii"),
                    "Content-Type": "application/json",
                    "User-Agent": "mediagen-webhooks",
                },
                extensions=extensions,
            )
            response = await client.send(request, stream=True)
            try:
                answer = bytearray()
                async for chunk in response.aiter_raw():
                    answer += chunk
                    if len(answer) >= self._max_answer:
                        break
            finally:
                await response.aclose()
        return Delivery(response.status_code, bytes(answer[: self._max_answer]), str(address))
