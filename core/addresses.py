"""Which network addresses the service may call when someone else chooses the URL.

`UrlPolicy.check` is the one gate for such URLs (user webhooks, provider outputs): the
scheme, the host, every address the host resolves to, and never the service itself. It
returns the addresses it checked so that the caller connects to one of them and not to
whatever a second resolution answers (DNS rebinding).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

import httpx

from core.hostlist import HostList, normal_host

IPAddress = IPv4Address | IPv6Address
# Resolves a host name (never an IP literal) to its addresses; raises OSError if it cannot.
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]

METADATA = IPv4Address("169.254.169.254")
CGNAT = IPv4Network("100.64.0.0/10")
THIS_NETWORK = IPv4Network("0.0.0.0/8")
NAT64 = IPv6Network("64:ff9b::/96")
NAT64_LOCAL = IPv6Network("64:ff9b:1::/48")
DEFAULT_PORTS = {"http": 80, "https": 443}
HOST_NAME = re.compile(r"[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?")


class RefusedUrl(ValueError):
    """The URL may not be called; `reason` says why in words a client can act on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnresolvedHost(RefusedUrl):
    """The host did not resolve: refused at submit, but at send time perhaps a passing
    resolver failure, so worth another try."""


def _embedded_ipv4(ip: IPv6Address) -> tuple[str, IPv4Address] | None:
    """The IPv4 address an IPv6 one carries, and the form it is carried in."""
    if ip.ipv4_mapped is not None:
        return "IPv4-mapped", ip.ipv4_mapped
    if ip.sixtofour is not None:
        return "6to4", ip.sixtofour
    if ip in NAT64:
        return "NAT64", IPv4Address(int(ip) & 0xFFFFFFFF)
    if int(ip) >> 32 == 0 and int(ip) > 1:  # ::a.b.c.d, the deprecated IPv4-compatible form
        return "IPv4-compatible", IPv4Address(int(ip))
    return None


def refusal_of(ip: IPAddress) -> str | None:
    """Why `ip` is not a global unicast address the service may call, or None if it is."""
    if isinstance(ip, IPv6Address):
        if ip.scope_id:
            ip = IPv6Address(int(ip))
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            form, v4 = embedded
            inner = refusal_of(v4)
            return None if inner is None else f"{form} form of {v4}: {inner}"
        if ip in NAT64_LOCAL:
            return "local-use NAT64 address"
        if ip.is_site_local or ip in IPv6Network("fc00::/7"):
            return "unique-local address"
    else:
        if ip == METADATA:
            return "link-local address (the cloud metadata service)"
        if ip in CGNAT:
            return "shared address space (CGNAT 100.64.0.0/10)"
        if ip in THIS_NETWORK:
            return "unspecified address (0.0.0.0/8)"
        if ip == IPv4Address("255.255.255.255"):
            return "broadcast address"
    if ip.is_unspecified:
        return "unspecified address"
    if ip.is_loopback:
        return "loopback address"
    if ip.is_link_local:
        return "link-local address"
    if ip.is_multicast:
        return "multicast address"
    if ip.is_reserved:
        return "reserved address"
    if ip.is_private:
        return "private address"
    if not ip.is_global:
        return "reserved address (not globally routable)"
    return None


def _ipv4_part(text: str) -> int | None:
    """One part of a BSD `inet_aton` spelling: decimal, 0x hex, or 0-led octal."""
    try:
        if text[:2] in ("0x", "0X"):
            return int(text[2:], 16) if text[2:] else 0
        if len(text) > 1 and text.startswith("0"):
            return int(text[1:], 8)
        return int(text, 10) if text.isdigit() else None
    except ValueError:
        return None


def literal_address(host: str) -> IPAddress | None:
    """The address a host spells, in any form a resolver would read as one, else None.

    Besides canonical forms: `2130706433`, `0x7f000001`, `0177.0.0.1`, `127.1` (the
    `inet_aton` spellings glibc's resolver accepts for 127.0.0.1).
    """
    host = host.strip().lower().removesuffix(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(parts):
        return None
    values = [_ipv4_part(part) for part in parts]
    if any(value is None for value in values):
        return None
    numbers = [value for value in values if value is not None]
    *head, last = numbers
    if any(value > 255 for value in head) or last >= 256 ** (4 - len(head)):
        return None
    value = 0
    for part in head:
        value = value << 8 | part
    return IPv4Address(value << 8 * (4 - len(head)) | last)


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """The addresses `getaddrinfo` gives for `host` (what a plain client would connect to)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in infos]


@dataclass(frozen=True)
class CheckedUrl:
    """A URL that passed the policy, with the addresses it may be connected to."""

    url: httpx.URL
    host: str
    port: int
    addresses: tuple[IPAddress, ...]


def _endpoint(url: str) -> tuple[str, int] | None:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return None
    port = parsed.port or DEFAULT_PORTS.get(parsed.scheme)
    if not parsed.host or port is None:
        return None
    return normal_host(parsed.raw_host.decode("ascii")), port


@dataclass
class UrlPolicy:
    """Checks URLs that others choose; see `check`.

    `allowed` hosts may use `http` and any address (a deployment's own receivers, on
    purpose); with `only_listed` no other host is accepted at all (provider outputs).
    `own` are the service's own endpoints (`scheme://host:port` or `host:port`): never
    called, allowed or not, so a webhook cannot make the service call itself.
    """

    allowed: HostList = field(default_factory=HostList)
    own: tuple[str, ...] = ()
    resolver: Resolver = system_resolver
    only_listed: bool = False

    async def check(self, url: str) -> CheckedUrl:
        """The checked URL and the addresses to connect to.

        Raises:
            RefusedUrl: the URL breaks a rule, or its host does not resolve.
        """
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise RefusedUrl(f"is not a valid URL: {exc}") from None
        if parsed.scheme not in DEFAULT_PORTS:
            raise RefusedUrl(f"scheme {parsed.scheme!r} is not allowed: use https")
        if parsed.userinfo:
            raise RefusedUrl("must not contain credentials (user:password@)")
        raw_host = parsed.raw_host.decode("ascii", "replace")
        if not raw_host:
            raise RefusedUrl("has no host")
        host = normal_host(raw_host)
        port = parsed.port or DEFAULT_PORTS[parsed.scheme]
        literal = literal_address(host)
        if literal is not None and str(literal) != host:
            raise RefusedUrl(f"host {raw_host} is {literal} written unusually; write it plainly")
        if literal is None and not HOST_NAME.fullmatch(host):
            raise RefusedUrl(f"host {raw_host!r} is not a valid host name")
        listed = self.allowed.allows(host, port)
        if self.only_listed and not listed:
            raise RefusedUrl(f"host {host} is not in the allowed hosts")
        if parsed.scheme == "http" and not listed:
            raise RefusedUrl(f"http is allowed only for listed hosts, not {host}: use https")
        addresses = [literal] if literal is not None else await self._resolve(host, port)
        await self._not_own(host, port, addresses)
        if not listed:
            for address in addresses:
                reason = refusal_of(address)
                if reason is not None:
                    shown = host if literal is not None else f"{host} resolves to {address}"
                    raise RefusedUrl(f"host {shown}: {reason}")
        return CheckedUrl(url=parsed, host=host, port=port, addresses=tuple(addresses))

    async def _resolve(self, host: str, port: int) -> list[IPAddress]:
        try:
            addresses = await self.resolver(host, port)
        except (OSError, UnicodeError) as exc:
            raise UnresolvedHost(f"host {host} does not resolve: {exc}") from None
        if not addresses:
            raise UnresolvedHost(f"host {host} does not resolve to any address")
        return list(dict.fromkeys(addresses))

    async def _not_own(self, host: str, port: int, addresses: Iterable[IPAddress]) -> None:
        """Refuse the service's own endpoints, by name or by any address they resolve to."""
        targets = {(address, port) for address in addresses}
        for endpoint in self.own:
            own = _endpoint(endpoint if "://" in endpoint else f"http://{endpoint}")
            if own is None or own[1] != port:
                continue
            if own[0] == host:
                raise RefusedUrl(f"{host}:{port} is this service's own address")
            literal = literal_address(own[0])
            if literal is not None and literal.is_unspecified:  # listening on every interface
                if any(address.is_loopback or address.is_unspecified for address, _ in targets):
                    raise RefusedUrl(f"{host}:{port} is this service's own address")
                continue
            try:
                own_addresses = [literal] if literal else await self.resolver(own[0], own[1])
            except OSError:
                continue
            if targets & {(address, port) for address in own_addresses}:
                raise RefusedUrl(f"{host}:{port} is this service's own address")
