"""Browser fixtures: Debian's chromium driven by Playwright, on pages of the session stack's API.

Playwright never downloads a browser here: it launches `/usr/bin/chromium` (the `chromium`
Debian package, which `.ci/run` installs). Every page is watched: console errors, uncaught
exceptions and failed requests are collected, and every request to a host other than the
API's own is refused and recorded, so a test proves the page needs no internet. Each page's
screenshot is kept in `tests/browser/artifacts/` (or `$MEDIAGEN_ARTIFACTS`); the run's
summary lists them.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import (
    Browser,
    ConsoleMessage,
    Page,
    Request,
    Route,
    async_playwright,
)

from core.config import get_settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# A port nothing listens on: what a request slips past the route below goes nowhere either.
DEAD_PROXY = "http://127.0.0.1:9"
SCREENSHOTS = pytest.StashKey[list[Path]]()


@dataclass
class Visit:
    """A page of the API, open in a fresh browser context, and what went wrong on it."""

    page: Page
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    left_localhost: list[str] = field(default_factory=list)

    def problems(self) -> dict[str, list[str]]:
        """Everything that went wrong, by kind; empty lists when the page is clean."""
        return {
            "console errors": self.console_errors,
            "uncaught exceptions": self.page_errors,
            "failed requests": self.failed_requests,
            "requests that left localhost": self.left_localhost,
        }


@pytest.fixture(scope="session")
def base_url(stack) -> str:
    """The API of the session stack, as a browser reaches it."""
    return get_settings().public_base_url


@pytest.fixture(scope="session")
async def anon(base_url) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the API without a key, as a browser is."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def artifacts(request: pytest.FixtureRequest) -> Path:
    default = Path(__file__).resolve().parent / "artifacts"
    directory = Path(os.environ.get("MEDIAGEN_ARTIFACTS") or default)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def local_hosts(base_url: str) -> set[str]:
    return {"127.0.0.1", "localhost", urlsplit(base_url).hostname or "localhost"}


@pytest.fixture(scope="session")
def chromium() -> Path:
    assert CHROMIUM.exists(), f"no {CHROMIUM}: `apt-get install chromium` (.ci/run does)"
    return CHROMIUM


@pytest.fixture(scope="session")
async def browser(chromium: Path, base_url: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium,
            args=CHROMIUM_ARGS,
            proxy={"server": DEAD_PROXY, "bypass": ",".join(sorted(local_hosts(base_url)))},
        )
        yield launched
        await launched.close()


@pytest.fixture
async def visit(
    browser: Browser, base_url: str, artifacts: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Callable[[str], Awaitable[Visit]]]:
    """Opens a path of the API in a fresh context; its screenshot is taken at teardown."""
    local = local_hosts(base_url)
    context = await browser.new_context(viewport={"width": 1280, "height": 1000})
    visits: list[Visit] = []

    async def open_page(path: str) -> Visit:
        page = await context.new_page()
        seen = Visit(page)
        visits.append(seen)

        async def local_only(route: Route, asked: Request) -> None:
            parts = urlsplit(asked.url)
            if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname not in local:
                seen.left_localhost.append(asked.url)
                await route.abort("blockedbyclient")
            else:
                await route.continue_()

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                seen.console_errors.append(f"{message.text} ({message.location.get('url')})")

        def on_failed(failed: Request) -> None:
            if failed.url not in seen.left_localhost:  # reported as such already
                seen.failed_requests.append(f"{failed.url}: {failed.failure}")

        await page.route("**/*", local_only)
        page.on("console", on_console)
        page.on("pageerror", lambda error: seen.page_errors.append(str(error)))
        page.on("requestfailed", on_failed)
        response = await page.goto(base_url + path, wait_until="load")
        assert response is not None
        assert response.status == 200, f"{path}: {response.status}"
        return seen

    yield open_page
    for number, seen in enumerate(visits):
        name = re.sub(r"[^\w.-]+", "_", request.node.name) + (f"-{number}" if number else "")
        shot = artifacts / f"{name}.png"
        await seen.page.screenshot(path=shot)
        request.config.stash.setdefault(SCREENSHOTS, []).append(shot)
    await context.close()


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    shots = config.stash.get(SCREENSHOTS, [])
    if shots:
        terminalreporter.section("browser screenshots")
        for shot in shots:
            terminalreporter.write_line(str(shot))
