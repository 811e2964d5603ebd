"""`/docs` and `/redoc` render in a browser with no request leaving localhost, without a key."""

from __future__ import annotations

import re

import pytest

from core.version import VERSION
from tests.browser.conftest import Visit

pytestmark = pytest.mark.stack

EXPECTED = {
    ("POST", "/api/v1/generate"),
    ("POST", "/api/v1/uploads"),
    ("GET", "/api/v1/status/{job_id}"),
}
METHODS = {"get", "put", "post", "delete", "patch"}


async def operations(anon) -> dict[tuple[str, str], str]:
    """Every operation of `/openapi.json` and its summary, as both pages show them."""
    document = (await anon.get("/openapi.json")).json()
    return {
        (method.upper(), path): operation["summary"]
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def assert_clean(seen: Visit) -> None:
    assert seen.problems() == {kind: [] for kind in seen.problems()}


async def test_docs_lists_every_operation(visit, anon):
    seen = await visit("/docs")
    await seen.page.wait_for_selector(".opblock-summary", timeout=30_000)

    listed = await seen.page.locator(".opblock-summary").evaluate_all(
        """blocks => blocks.map(block => [
            block.querySelector('.opblock-summary-method').textContent.trim(),
            block.querySelector('.opblock-summary-path').dataset.path,
        ])"""
    )

    shown = {(method, path) for method, path in listed}
    assert len(shown) == len(listed)
    assert shown >= EXPECTED
    assert shown == set(await operations(anon))
    assert (await seen.page.locator(".info .title").inner_text()).split()[:2] == [
        "mediagen",
        VERSION,
    ]
    assert await seen.page.locator("button.authorize").count() == 1
    assert_clean(seen)


async def test_redoc_shows_the_title_and_every_operation(visit, anon):
    seen = await visit("/redoc")
    await seen.page.wait_for_selector("h1", timeout=30_000)

    title = await seen.page.locator("h1").first.inner_text()
    headings = set(await seen.page.locator("h2").all_inner_texts())

    assert title == f"mediagen ({VERSION})"
    summaries = await operations(anon)
    assert set(summaries.values()) <= headings
    assert {summaries[operation] for operation in EXPECTED} <= headings
    assert_clean(seen)


async def test_the_watch_catches_a_request_that_leaves_localhost(visit):
    """The checks above are not vacuous: a request to a CDN is refused and reported."""
    seen = await visit("/docs")

    fetched = await seen.page.evaluate(
        """() => fetch('https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css')
            .then(() => 'fetched', () => 'refused')"""
    )

    assert fetched == "refused"
    assert seen.left_localhost == ["https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css"]


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
async def test_the_pages_reference_only_assets_the_api_serves(anon, path):
    page = await anon.get(path)
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]*)"', page.text)

    assert assets
    assert all(url.startswith("/static/vendor/") for url in assets), assets
    for external in ("cdn.jsdelivr", "fonts.googleapis", "fastapi.tiangolo", "unpkg.com"):
        assert external not in page.text
    for url in assets:
        served = await anon.get(url)
        assert served.status_code == 200, url
        assert len(served.content) > 500, url
