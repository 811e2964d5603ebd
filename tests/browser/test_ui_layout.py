"""The `/ui` pages at 375 px wide with every control labelled, and the API key's life in the
browser: entered once, kept across pages and reloads, forgotten on request, refused if wrong."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.browser.test_ui import (
    WAIT_MS,
    all_loaded,
    assert_clean,
    client,
    enter_key,
    sessions,
    submit,
    tenant,
    wait_ended,
)

pytestmark = pytest.mark.stack
__all__ = ["client", "sessions", "tenant"]  # fixtures, used by name
PHONE = {"width": 375, "height": 812}
LABELS = {
    "/ui": ["API key", "Prompt", "Model", "Width", "Height", "Format", "Outputs", "Seed", "Status"],
    "/ui/upload": ["API key", "Image", "thumbnail", "preview", "compressed"],
    "/ui/jobs/{id}": ["API key", "Job progress"],
}
# Every form control with no accessible name, every image without alt text, every button
# without text: the list is empty on a page that a screen reader can use.
UNNAMED = """() => [
    ...[...document.querySelectorAll('input, select, textarea, progress')]
        .filter(el => el.labels.length === 0 && !el.getAttribute('aria-label'))
        .map(el => el.outerHTML),
    ...[...document.querySelectorAll('img')].filter(img => !img.alt).map(img => img.outerHTML),
    ...[...document.querySelectorAll('button')].filter(b => !b.textContent.trim())
        .map(b => b.outerHTML),
]"""


async def assert_fits_a_phone(page: Page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} scrolls sideways: {width} px wide"


@pytest.mark.parametrize("path", list(LABELS))
async def test_each_page_fits_375_px_and_labels_every_control(visit, tenant, client, path):
    job = await submit(client, "a lighthouse on a narrow screen", width=1024, height=768)
    await wait_ended(client, job["id"])
    seen = await visit(path.format(id=job["id"]))
    page = seen.page
    await page.set_viewport_size(PHONE)
    await assert_fits_a_phone(page)  # the key form alone
    await enter_key(page, tenant.token)
    if path == "/ui":
        await expect(page.locator("#gallery li.tile")).to_have_count(1)
    if path == "/ui/jobs/{id}":
        await expect(page.locator("#result article[data-status=completed]")).to_be_visible()
        assert await all_loaded(page, "#result img") >= 1

    for label in LABELS[path]:
        assert await page.get_by_label(label, exact=True).count() == 1, label
    assert await page.evaluate(UNNAMED) == []
    await assert_fits_a_phone(page)
    assert_clean(seen)


async def test_the_key_is_kept_and_can_be_forgotten(visit, tenant):
    seen = await visit("/ui")
    page = seen.page
    await expect(page.get_by_label("Prompt")).to_be_hidden()  # nothing to do without a key
    await enter_key(page, tenant.token)
    await expect(page.locator("#gallery-count")).to_have_text("0 jobs")
    await expect(page.locator("#key-hint")).to_have_text(
        "_".join(tenant.token.split("_")[:2]) + "_…"
    )

    await page.reload()
    await expect(page.locator("#gallery-count")).to_have_text("0 jobs")
    await expect(page.locator("#key-form")).to_be_hidden()
    await page.get_by_role("button", name="Forget key").click()

    await expect(page.get_by_label("API key")).to_be_visible()
    await expect(page.get_by_label("Prompt")).to_be_hidden()
    assert await page.evaluate("localStorage.length") == 0
    assert await page.locator("#gallery").inner_html() == ""
    assert_clean(seen)


async def test_a_refused_key_is_dropped_with_a_message(visit, tenant):
    seen = await visit("/ui")
    page = seen.page
    wrong = tenant.token[:-4] + ("aaaa" if not tenant.token.endswith("aaaa") else "bbbb")
    await page.get_by_label("API key").fill(wrong)
    await page.get_by_role("button", name="Use this key").click()

    await expect(page.get_by_role("alert")).to_contain_text("refused", timeout=WAIT_MS)
    await expect(page.get_by_label("API key")).to_be_visible()
    assert await page.evaluate("localStorage.length") == 0
    # The browser reports the 401 itself; nothing else went wrong.
    assert len(seen.console_errors) == 1
    assert re.match(r"Failed to load resource: .* 401", seen.console_errors[0])
    assert seen.page_errors == seen.failed_requests == seen.left_localhost == []
