"""UrlPolicy: hostile webhook URLs are refused, each with its reason; public ones pass.

Names resolve through a resolver the test controls (no DNS): `Names` maps them.
"""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from core.addresses import IPAddress, RefusedUrl, UrlPolicy, literal_address, refusal_of
from core.hostlist import HostList


class Names:
    """A resolver from a fixed table; unknown names do not resolve (as OSError, like DNS)."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.asked.append(host)
        if host not in self.table:
            raise OSError(f"[Errno -2] Name or service not known: {host}")
        return [ip_address(address) for address in self.table[host]]


NAMES = {
    "hooks.example.com": ["93.184.215.14"],
    "v6.example.com": ["2606:4700::1111"],
    "localhost": ["127.0.0.1", "::1"],
    "metadata.example.com": ["169.254.169.254"],
    "internal.example.com": ["10.0.0.7"],
    "mixed.example.com": ["93.184.215.14", "192.168.1.1"],
    "cgnat.example.com": ["100.64.0.1"],
    "ula.example.com": ["fd00::1"],
    "mapped.example.com": ["::ffff:10.0.0.1"],
    "api.mediagen.example": ["93.184.215.99"],
    "alias-of-api.example": ["93.184.215.99"],
    "hooks.internal": ["10.1.2.3"],
    "empty.example.com": [],
}


def policy(allowed: list[str] | None = None) -> UrlPolicy:
    return UrlPolicy(
        allowed=HostList.parse(allowed or []),
        own=("https://api.mediagen.example", "127.0.0.1:8000"),
        resolver=Names(NAMES),
    )


HOSTILE = [
    ("http://hooks.example.com/h", "http is allowed only for listed hosts"),
    ("ftp://hooks.example.com/h", "scheme 'ftp' is not allowed"),
    ("file:///etc/passwd", "scheme 'file' is not allowed"),
    ("gopher://hooks.example.com/", "scheme 'gopher' is not allowed"),
    ("https://user:pw@hooks.example.com/", "must not contain credentials"),
    ("https:///nohost", "has no host"),
    ("https://127.0.0.1/", "loopback"),
    ("https://127.0.0.2:8443/", "loopback"),
    ("https://[::1]/", "loopback"),
    ("https://localhost/", "resolves to 127.0.0.1: loopback"),
    ("https://0.0.0.0/", "unspecified"),
    ("https://[::]/", "unspecified"),
    ("https://10.0.0.1/", "private"),
    ("https://172.16.5.4/", "private"),
    ("https://192.168.0.1/", "private"),
    ("https://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ("https://169.254.1.1/", "link-local"),
    ("https://[fe80::1]/", "link-local"),
    ("https://100.64.0.1/", "CGNAT"),
    ("https://100.127.255.254/", "CGNAT"),
    ("https://[fd00:ec2::254]/", "unique-local"),
    ("https://[fc00::1]/", "unique-local"),
    ("https://224.0.0.1/", "multicast"),
    ("https://[ff02::1]/", "multicast"),
    ("https://240.0.0.1/", "reserved"),
    ("https://255.255.255.255/", "broadcast"),
    ("https://[::ffff:127.0.0.1]/", "IPv4-mapped form of 127.0.0.1: loopback"),
    ("https://[::ffff:169.254.169.254]/", "IPv4-mapped form of 169.254.169.254"),
    ("https://[::127.0.0.1]/", "IPv4-compatible form of 127.0.0.1"),
    ("https://[2002:a00:1::]/", "6to4 form of 10.0.0.1: private"),
    ("https://[64:ff9b::a9fe:a9fe]/", "NAT64 form of 169.254.169.254"),
    ("https://2130706433/", "is 127.0.0.1 written unusually"),
    ("https://0x7f000001/", "is 127.0.0.1 written unusually"),
    ("https://0177.0.0.1/", "Invalid IPv4 address"),  # httpx's parser refuses it already
    ("https://0177.1/", "is 127.0.0.1 written unusually"),
    ("https://127.1/", "is 127.0.0.1 written unusually"),
    ("https://0x7f.0.0.1/", "is 127.0.0.1 written unusually"),
    ("https://3232235521/", "is 192.168.0.1 written unusually"),
    ("https://134744072/", "is 8.8.8.8 written unusually"),  # even a public one
    ("https://metadata.example.com/", "resolves to 169.254.169.254"),
    ("https://internal.example.com/", "resolves to 10.0.0.7: private"),
    ("https://mixed.example.com/", "resolves to 192.168.1.1: private"),  # any address counts
    ("https://cgnat.example.com/", "CGNAT"),
    ("https://ula.example.com/", "unique-local"),
    ("https://mapped.example.com/", "IPv4-mapped form of 10.0.0.1"),
    ("https://nowhere.example.com/", "does not resolve"),
    ("https://empty.example.com/", "does not resolve to any address"),
    ("https://api.mediagen.example/api/v1/generate", "this service's own address"),
    ("https://API.mediagen.example./api/v1/generate", "this service's own address"),
    ("https://alias-of-api.example/api/v1/generate", "this service's own address"),
    ("https://hooks.internal/", "resolves to 10.1.2.3: private"),  # not listed here
    ("https://exa%6dple.com/", "not a valid host name"),
    ("not a url", "scheme '' is not allowed"),
]


def test_the_table_is_long_enough():
    assert len(HOSTILE) >= 30


@pytest.mark.parametrize(("url", "reason"), HOSTILE)
async def test_hostile_urls_are_refused_with_their_reason(url, reason):
    with pytest.raises(RefusedUrl) as refused:
        await policy().check(url)
    assert reason in refused.value.reason


@pytest.mark.parametrize(
    ("url", "addresses"),
    [
        ("https://hooks.example.com/h?x=1", ["93.184.215.14"]),
        ("https://v6.example.com:8443/", ["2606:4700::1111"]),
        ("https://93.184.215.14/", ["93.184.215.14"]),
        ("https://[2606:4700::1111]/", ["2606:4700::1111"]),
        ("https://[::ffff:8.8.8.8]/", ["::ffff:808:808"]),
        ("https://api.mediagen.example:8443/", ["93.184.215.99"]),  # another port is not us
    ],
)
async def test_public_urls_pass_with_their_addresses(url, addresses):
    checked = await policy().check(url)
    assert [str(address) for address in checked.addresses] == addresses


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9978/hook",
        "http://localhost:5000/",
        "https://hooks.internal/h",
        "http://[::1]:9000/",
        "http://a.corp.example/",
    ],
)
async def test_listed_hosts_may_be_internal_and_use_http(url):
    allowed = ["127.0.0.1", "localhost", "hooks.internal", "[::1]", "*.corp.example"]
    NAMES.setdefault("a.corp.example", ["10.9.9.9"])
    checked = await policy(allowed).check(url)
    assert checked.addresses


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:8000/api/v1/generate", "this service's own address"),
        ("http://localhost:8000/api/v1/generate", "this service's own address"),
        ("https://api.mediagen.example/api/v1/generate", "this service's own address"),
        ("http://2130706433:9978/", "written unusually"),
        ("http://127.0.0.1:9979/", "http is allowed only for listed hosts"),  # another port
    ],
)
async def test_listing_never_allows_the_service_itself(url, reason):
    allowed = ["127.0.0.1:8000", "127.0.0.1:9978", "localhost", "api.mediagen.example"]
    with pytest.raises(RefusedUrl, match=reason):
        await policy(allowed).check(url)


async def test_only_listed_refuses_any_other_host():
    strict = UrlPolicy(allowed=HostList.parse(["*.replicate.delivery"]), only_listed=True)
    with pytest.raises(RefusedUrl, match="not in the allowed hosts"):
        await strict.check("https://evil.example/x.png")


async def test_an_unspecified_api_host_refuses_every_loopback_address_on_its_port():
    wide = UrlPolicy(
        allowed=HostList.parse(["127.0.0.1", "localhost"]),
        own=("0.0.0.0:8000",),
        resolver=Names(NAMES),
    )
    with pytest.raises(RefusedUrl, match="own address"):
        await wide.check("http://localhost:8000/api/v1/generate")
    assert (await wide.check("http://127.0.0.1:8001/")).port == 8001


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0177.0.0.01", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("192.168.257", "192.168.1.1"),
        ("[::1]", "::1"),
        ("hooks.example.com", None),
        ("256.1.1.1", None),
        ("1.2.3.4.5", None),
        ("09.1.1.1", None),
    ],
)
def test_literal_address_reads_every_spelling(host, address):
    found = literal_address(host)
    assert (str(found) if found else None) == address


def test_global_addresses_have_no_refusal():
    for address in ("8.8.8.8", "93.184.215.14", "2606:4700::1111", "::ffff:8.8.8.8"):
        assert refusal_of(ip_address(address)) is None
