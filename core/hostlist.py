"""Host allowlists as settings spell them: `host`, `host:port`, `*.domain`, `[v6]:port`.

An entry without a port allows any port; `*.example.com` allows every subdomain of
example.com but not example.com itself (list both to allow both). Names compare without
case and without a trailing dot; IP literals compare as addresses (`[::1]` is `0:0::1`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass


def normal_host(host: str) -> str:
    """The form hosts are compared in: lower case, no brackets, no trailing dot, IPs canonical."""
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    host = host.removesuffix(".")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


@dataclass(frozen=True)
class HostEntry:
    """One allowed host (or, with `wildcard`, every subdomain of it) on `port` or any port."""

    host: str
    port: int | None
    wildcard: bool = False

    def matches(self, host: str, port: int | None) -> bool:
        if self.port is not None and port != self.port:
            return False
        if self.wildcard:
            return host.endswith("." + self.host)
        return host == self.host


def _split_port(entry: str) -> tuple[str, int | None]:
    """`host:port`, `[v6]:port`, `[v6]`, a bare IPv6 address, or a bare host."""
    if entry.startswith("["):
        close = entry.find("]")
        if close < 0:
            raise ValueError(f"host list entry {entry!r}: unclosed '['")
        host, rest = entry[1:close], entry[close + 1 :]
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise ValueError(f"host list entry {entry!r}: junk after ']'")
        return host, _port(entry, rest[1:])
    if entry.count(":") > 1:  # an IPv6 address without brackets: no port
        return entry, None
    host, sep, port = entry.partition(":")
    return host, _port(entry, port) if sep else None


def _port(entry: str, text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"host list entry {entry!r}: bad port {text!r}")
    return int(text)


@dataclass(frozen=True)
class HostList:
    """Allowed hosts; `HostList.parse(["a.example", "*.b.example", "127.0.0.1:9978"])`."""

    entries: tuple[HostEntry, ...] = ()

    @classmethod
    def parse(cls, entries: list[str]) -> HostList:
        """Parse setting entries (blank ones are skipped).

        Raises:
            ValueError: an entry is not `host`, `host:port`, `*.domain` or `[v6]:port`.
        """
        parsed = []
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            host, port = _split_port(entry)
            wildcard = host.startswith("*.")
            if wildcard:
                host = host[2:]
            host = normal_host(host)
            if not host or "*" in host or "/" in host or "@" in host or " " in host:
                raise ValueError(f"host list entry {raw!r} is not a host name")
            parsed.append(HostEntry(host=host, port=port, wildcard=wildcard))
        return cls(tuple(parsed))

    def allows(self, host: str, port: int | None) -> bool:
        """Whether `host` on `port` is listed (a port of None matches only port-less entries)."""
        host = normal_host(host)
        return any(entry.matches(host, port) for entry in self.entries)

    def __bool__(self) -> bool:
        return bool(self.entries)
