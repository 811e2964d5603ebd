"""Where outputs may be fetched from (issue #16): each rule, redirects, and no token."""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import ip_address

import httpx
import pytest

from core.addresses import IPAddress
from core.output_rules import MAX_REDIRECTS, Downloads, OutputRefused, OutputRules, download_http
from core.replicate import OutputUnavailable, ReplicateClient
from core.sniff import ContentRefused

API = "https://api.replicate.com/v1"
DNS = {
    "replicate.delivery": ["34.120.1.1"],
    "pbxt.replicate.delivery": ["34.120.1.2"],
    "evil.replicate.delivery": ["127.0.0.1"],
    "meta.replicate.delivery": ["34.120.1.3", "169.254.169.254"],
    "v6.replicate.delivery": ["::ffff:10.0.0.1"],
    "files.internal": ["10.1.2.3"],
}


async def resolver(host: str, port: int) -> list[IPAddress]:
    if host not in DNS:
        raise OSError("no such name")
    return [ip_address(a) for a in DNS[host]]


def rules(*extra: str, api: str = API) -> OutputRules:
    hosts = ["replicate.delivery", "*.replicate.delivery", *extra]
    return OutputRules.build(hosts, api, resolver)


ALLOWED = [
    "https://replicate.delivery/pbxt/abc/out-0.png",
    "https://pbxt.replicate.delivery/abc/out-0.webp?X-Amz-Signature=s",
    "http://pbxt.replicate.delivery/abc/out-0.webp",
    "https://REPLICATE.DELIVERY./x.png",
]

REFUSED = [
    ("account", "", "not an absolute URL"),
    ("/v1/account", "", "not an absolute URL"),
    ("//replicate.delivery/x.png", "", "not an absolute URL"),
    ("ftp://replicate.delivery/x.png", "replicate.delivery", "scheme"),
    ("file:///etc/passwd", "", "not an absolute URL"),
    ("https://user:pw@replicate.delivery/x.png", "replicate.delivery", "credentials"),
    ("https://api.replicate.com/v1/account", "api.replicate.com", "API base URL"),
    ("https://api.replicate.com/v1", "api.replicate.com", "API base URL"),
    ("https://api.replicate.com/other", "api.replicate.com", "OUTPUT_ALLOWED_HOSTS"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254", "OUTPUT_ALLOWED_HOSTS"),
    ("http://10.0.0.1/x.png", "10.0.0.1", "OUTPUT_ALLOWED_HOSTS"),
    ("http://127.0.0.1:8100/x.png", "127.0.0.1", "OUTPUT_ALLOWED_HOSTS"),
    ("https://replicate.delivery.evil.example/x.png", "evil.example", "OUTPUT_ALLOWED_HOSTS"),
    ("https://evilreplicate.delivery/x.png", "evilreplicate", "OUTPUT_ALLOWED_HOSTS"),
    ("https://evil.replicate.delivery/x.png", "evil.replicate.delivery", "127.0.0.1"),
    ("https://meta.replicate.delivery/x.png", "meta.replicate.delivery", "metadata"),
    ("https://v6.replicate.delivery/x.png", "v6.replicate.delivery", "10.0.0.1"),
]


@pytest.mark.parametrize("url", ALLOWED)
async def test_delivery_urls_pass(url: str) -> None:
    assert (await rules().check(url)).host.rstrip(".").endswith("replicate.delivery")


@pytest.mark.parametrize(("url", "host", "rule"), REFUSED)
async def test_each_rule_refuses_naming_host_and_rule(url: str, host: str, rule: str) -> None:
    with pytest.raises(OutputRefused) as caught:
        await rules().check(url)
    message = str(caught.value)
    assert host in message
    assert rule in message
    assert "s3cret" not in message
    assert "/x.png" not in message
    assert "meta-data" not in message


async def test_a_name_that_does_not_resolve_is_left_to_the_retries_not_refused() -> None:
    # A resolver failure may pass (EAI_AGAIN): an OSError, retried, not a final OutputRefused.
    with pytest.raises(OSError):  # noqa: PT011 (the resolver's own error, whatever its text)
        await rules().check("https://gone.replicate.delivery/x.png")


async def test_a_host_listed_by_name_skips_the_address_check() -> None:
    await rules("files.internal", "127.0.0.1:8100").check("http://files.internal/x.png")
    await rules("127.0.0.1:8100").check("http://127.0.0.1:8100/delivery/x.png")
    with pytest.raises(OutputRefused, match="OUTPUT_ALLOWED_HOSTS"):
        await rules("127.0.0.1:8100").check("http://127.0.0.1:8101/x.png")
    with pytest.raises(OutputRefused, match=r"10\.1\.2\.3"):  # only under a wildcard: checked
        await rules("*.internal").check("http://files.internal/x.png")


async def test_the_api_base_is_refused_even_when_its_host_is_allowed() -> None:
    fake = rules("127.0.0.1:8100", api="http://127.0.0.1:8100/v1")
    await fake.check("http://127.0.0.1:8100/delivery/p/out-0.png")
    for url in ("http://127.0.0.1:8100/v1/account", "http://127.0.0.1:8100/v1/files/p/o.png"):
        with pytest.raises(OutputRefused, match="API base URL"):
            await fake.check(url)


def fetcher(
    handler: Callable[[httpx.Request], httpx.Response],
) -> tuple[ReplicateClient, Downloads, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    provider = ReplicateClient.build_http(API, "r8_token")
    http = download_http()
    http._transport = httpx.MockTransport(record)
    return ReplicateClient(provider), Downloads(rules(), http), seen


async def fetch(client: ReplicateClient, downloads: Downloads, url: str) -> bytes:
    async with client.stream_file(
        url,
        http=downloads.http,
        check=downloads.rules.check,
        redirect=downloads.rules.redirect,
        max_redirects=MAX_REDIRECTS,
    ) as response:
        return await response.aread()


def redirect_to(location: str) -> httpx.Response:
    return httpx.Response(302, headers={"Location": location})


async def test_downloads_carry_no_token_and_follow_allowed_redirects() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/a":
            return redirect_to("https://pbxt.replicate.delivery/b")
        if request.url.path == "/b":
            return redirect_to("/c")  # relative: against the URL that answered
        return httpx.Response(200, content=b"png")

    client, downloads, seen = fetcher(handler)
    assert await fetch(client, downloads, "https://replicate.delivery/a") == b"png"
    assert [str(r.url) for r in seen][-1] == "https://pbxt.replicate.delivery/c"
    assert all("Authorization" not in r.headers for r in seen)


@pytest.mark.parametrize(
    ("location", "rule"),
    [
        ("http://127.0.0.1:1/", "OUTPUT_ALLOWED_HOSTS"),
        ("http://169.254.169.254/latest/meta-data/", "OUTPUT_ALLOWED_HOSTS"),
        ("https://api.replicate.com/v1/account", "API base URL"),
        ("https://evil.replicate.delivery/x", "127.0.0.1"),
    ],
)
async def test_a_redirect_out_of_bounds_is_refused_before_it_is_asked(location, rule) -> None:
    client, downloads, seen = fetcher(lambda _: redirect_to(location))
    with pytest.raises(OutputRefused, match=rule):
        await fetch(client, downloads, "https://replicate.delivery/a")
    assert len(seen) == 1


async def test_redirects_are_followed_at_most_five_times() -> None:
    client, downloads, seen = fetcher(lambda r: redirect_to(f"{r.url.path}x"))
    with pytest.raises(OutputUnavailable, match="more than 5"):
        await fetch(client, downloads, "https://replicate.delivery/a")
    assert len(seen) == MAX_REDIRECTS + 1


async def test_a_refused_url_is_never_requested() -> None:
    client, downloads, seen = fetcher(lambda _: httpx.Response(200, content=b"x"))
    for url in ("account", "https://api.replicate.com/v1/account", "http://10.0.0.1/x.png"):
        with pytest.raises(OutputRefused):
            await fetch(client, downloads, url)
    assert seen == []


async def test_open_decides_the_type_from_the_bytes_and_streams_them_all() -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 400
    client, downloads, _ = fetcher(
        lambda _: httpx.Response(200, content=png, headers={"Content-Type": "text/html"})
    )
    async with downloads.open(client, "https://replicate.delivery/o/out-0.html") as output:
        assert (output.content_type, output.ext, output.length) == ("image/png", "png", len(png))
        assert b"".join([chunk async for chunk in output.body.aiter_bytes()]) == png


async def test_open_refuses_html_served_as_an_image() -> None:
    page = b"<html><script>alert(1)</script></html>"
    client, downloads, _ = fetcher(
        lambda _: httpx.Response(200, content=page, headers={"Content-Type": "image/png"})
    )
    with pytest.raises(ContentRefused, match=r"replicate\.delivery.*text/html"):
        async with downloads.open(client, "https://replicate.delivery/o/out-0.png"):
            pass
