"""The `/ui` page in chromium, on the session stack: submit and watch the image appear, cancel a
slow job, upload and see the variants, browse the gallery; every page clean (no console
error, nothing fetched from another host) and screenshotted by the `visit` fixture."""

from __future__ import annotations

import asyncio
import io
import re
import time
from typing import Any

import httpx
import pytest
from PIL import Image
from playwright.async_api import Page, expect

from core.config import get_settings
from core.db import make_engine, make_session_factory
from tests.browser.conftest import Visit
from tests.pipeline.tenants import Tenant, mint

pytestmark = pytest.mark.stack
TERMINAL = {"completed", "failed", "canceled"}
WAIT_MS = 60_000
# Records every value the progress bar takes and every text of the status line, in order.
WATCH_PROGRESS = """() => {
    window.seenProgress = []; window.seenStatus = [];
    const bar = document.querySelector('#live-progress');
    const line = document.querySelector('#live-status');
    new MutationObserver(() => window.seenProgress.push(bar.getAttribute('value')))
        .observe(bar, {attributes: true, attributeFilter: ['value']});
    new MutationObserver(() => window.seenStatus.push(line.textContent))
        .observe(line, {childList: true, characterData: true, subtree: true});
}"""
LOADED = "img => img.complete && img.naturalWidth > 0"


@pytest.fixture(scope="module")
async def sessions(stack):
    engine = make_engine(get_settings())
    yield make_session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def tenant(sessions) -> Tenant:
    """A key of an owner no other test uses, so its gallery holds only this test's jobs."""
    return await mint(sessions)


@pytest.fixture
async def client(base_url, tenant):
    async with httpx.AsyncClient(base_url=base_url, headers=tenant.headers, timeout=30) as api:
        yield api


def assert_clean(seen: Visit) -> None:
    assert seen.problems() == {kind: [] for kind in seen.problems()}


async def enter_key(page: Page, token: str) -> None:
    await page.get_by_label("API key").fill(token)
    await page.get_by_role("button", name="Use this key").click()
    await expect(page.locator("#key-saved")).to_be_visible()


async def submit(client: httpx.AsyncClient, prompt: str, **parameters: Any) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/generate", json={"prompt": prompt, "parameters": parameters}
    )
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    return job


async def wait_ended(client: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job: dict[str, Any] = (await client.get(f"/api/v1/status/{job_id}")).json()
        if job["status"] in TERMINAL:
            return job
        await asyncio.sleep(0.2)
    raise AssertionError(f"job {job_id} did not end")


async def all_loaded(page: Page, selector: str) -> int:
    """How many images match `selector`, once every one of them has loaded (the DOM is read
    afresh each time, so a fragment that replaces them meanwhile is waited for too)."""
    images = page.locator(selector)
    for index in range(await images.count()):
        await images.nth(index).scroll_into_view_if_needed()
    await page.wait_for_function(
        f"sel => [...document.querySelectorAll(sel)].every({LOADED})", arg=selector, timeout=WAIT_MS
    )
    return await images.count()


async def test_submit_from_the_page_and_watch_the_image_appear(visit, tenant, client):
    seen = await visit("/ui")
    page = seen.page
    await enter_key(page, tenant.token)
    await page.get_by_label("Prompt").fill("a lighthouse at dawn, watercolor <b>bold</b>")
    await page.get_by_label("Width").fill("384")
    await page.get_by_label("Height").fill("256")
    await page.get_by_label("Format").select_option("webp")
    await page.get_by_label("Seed").fill("42")
    await page.evaluate(WATCH_PROGRESS)

    await page.get_by_role("button", name="Generate").click()

    done = page.locator("#result article[data-status=completed]")
    await expect(done).to_be_visible(timeout=WAIT_MS)
    assert await all_loaded(page, "#result img.output") == 1
    size = await page.locator("#result img.output").evaluate(
        "i => [i.naturalWidth, i.naturalHeight]"
    )
    assert size == [384, 256]
    await expect(page.locator("#live-status")).to_have_text("completed: 100%")
    progress = [float(value) for value in await page.evaluate("window.seenProgress")]
    statuses = await page.evaluate("window.seenStatus")
    assert progress[-1] == 1.0, progress
    assert progress == sorted(progress), progress
    assert statuses[0] == "pending: 0%", statuses
    assert statuses[-1] == "completed: 100%", statuses
    job_id = await done.get_attribute("data-job-id")
    job = (await client.get(f"/api/v1/status/{job_id}")).json()
    assert job["prompt"] == "a lighthouse at dawn, watercolor <b>bold</b>"
    assert job["parameters"] == {
        "width": 384,
        "height": 256,
        "output_format": "webp",
        "num_outputs": 1,
        "seed": 42,
    }
    assert await done.locator("h2").inner_text() == job["prompt"]  # shown as text, not markup
    tile = page.locator(f"#gallery li[data-job-id='{job_id}']")
    await expect(tile).to_have_attribute("data-status", "completed")
    assert await all_loaded(page, f"#gallery li[data-job-id='{job_id}'] img") == 1
    assert_clean(seen)

    shown = await visit(f"/ui/jobs/{job_id}")  # the key is remembered: no key form
    await expect(shown.page.locator("#key-form")).to_be_hidden()
    await expect(shown.page.locator("#result article[data-status=completed]")).to_be_visible()
    assert await all_loaded(shown.page, "#result img") == 1 + len(job["variants"])
    settings = get_settings()
    link = shown.page.get_by_role("link", name="Workflow in the Temporal Web UI")
    assert await link.get_attribute("href") == (
        f"{settings.temporal_ui_url}/namespaces/{settings.temporal_namespace}/workflows/{job_id}"
    )
    details = await shown.page.locator("#result").inner_text()
    assert "Retries\n0" in details or "Retries\t0" in details, details
    assert "Metadata document" in details
    assert await shown.page.get_by_role("button", name="Cancel job").count() == 0
    assert_clean(shown)


async def test_cancel_a_slow_job_from_its_page(visit, tenant, client):
    job = await submit(client, "a very slow sunrise", fake={"latency": 120})
    seen = await visit(f"/ui/jobs/{job['id']}")
    page = seen.page
    await enter_key(page, tenant.token)
    await expect(page.locator("#live-status")).to_have_text(
        re.compile(r"^processing: \d+%$"), timeout=WAIT_MS
    )

    await page.get_by_role("button", name="Cancel job").click()

    await expect(page.locator("#result article[data-status=canceled]")).to_be_visible()
    await expect(page.locator("#live-status")).to_have_text(re.compile(r"^canceled: \d+%$"))
    assert await page.get_by_role("button", name="Cancel job").count() == 0
    assert (await client.get(f"/api/v1/status/{job['id']}")).json()["status"] == "canceled"
    assert_clean(seen)


def photo(width: int = 640, height: int = 480) -> bytes:
    image = Image.new("RGB", (width, height))
    image.putdata(
        [(x * 255 // width, y * 255 // height, 128) for y in range(height) for x in range(width)]
    )
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


async def test_upload_and_see_the_variants(visit, tenant, client, tmp_path):
    picture = tmp_path / "gradient.png"
    picture.write_bytes(photo())
    seen = await visit("/ui/upload")
    page = seen.page
    await enter_key(page, tenant.token)
    await page.get_by_label("Image").set_input_files(picture)
    await page.get_by_label("compressed").uncheck()

    await page.get_by_role("button", name="Upload").click()

    done = page.locator("#result article[data-status=completed]")
    await expect(done).to_be_visible(timeout=WAIT_MS)
    assert await all_loaded(page, "#result img.variant") == 2
    captions = await done.locator(".variants figcaption").all_inner_texts()
    assert [caption.split(":")[0] for caption in captions] == ["thumbnail", "preview"]
    assert await done.locator("img[alt^='thumbnail']").evaluate(
        "i => [i.naturalWidth, i.naturalHeight]"
    ) == [256, 256]
    job = (await client.get(f"/api/v1/status/{await done.get_attribute('data-job-id')}")).json()
    assert job["kind"] == "process"
    assert job["parameters"]["filename"] == "gradient.png"
    assert [variant["name"] for variant in job["variants"]] == ["thumbnail", "preview"]
    await expect(done.locator("h2")).to_have_text("upload gradient.png")
    assert_clean(seen)


async def tiles(page: Page) -> list[tuple[str, str]]:
    items = page.locator("#gallery li.tile")
    return [
        (
            await item.get_attribute("data-job-id") or "",
            await item.get_attribute("data-status") or "",
        )
        for item in await items.all()
    ]


async def test_the_gallery_filters_by_status_and_pages(visit, tenant, client):
    made = await asyncio.gather(
        *(submit(client, f"gallery fox {n}") for n in range(11)),
        *(submit(client, f"gallery [nsfw] {n}") for n in range(2)),
    )
    for job in made:
        await wait_ended(client, job["id"])
    newest_first = [
        job["id"] for job in (await client.get("/api/v1/jobs?limit=13")).json()["items"]
    ]
    seen = await visit("/ui")
    page = seen.page
    await enter_key(page, tenant.token)
    await expect(page.locator("#gallery-count")).to_have_text("13 jobs")

    first = await tiles(page)
    assert [job_id for job_id, _ in first] == newest_first[:12]
    await expect(page.locator("#gallery-page")).to_have_text("Page 1 of 2")
    assert await all_loaded(page, "#gallery li[data-status=completed] img") == sum(
        1 for _, status in first if status == "completed"
    )
    await page.get_by_role("button", name="Next").click()
    await expect(page.locator("#gallery-page")).to_have_text("Page 2 of 2")
    assert [job_id for job_id, _ in await tiles(page)] == newest_first[12:]
    assert page.url.endswith("/ui?page=1")
    await expect(page.get_by_role("button", name="Next")).to_be_disabled()

    await page.get_by_label("Status").select_option("failed")
    await expect(page.locator("#gallery-count")).to_have_text("2 failed jobs")
    assert {status for _, status in await tiles(page)} == {"failed"}
    assert len(await tiles(page)) == 2
    assert await page.locator("#gallery .pager").count() == 0
    await page.get_by_label("Status").select_option("completed")
    await expect(page.locator("#gallery-count")).to_have_text("11 completed jobs")
    assert len(await tiles(page)) == 11
    await all_loaded(page, "#gallery img")
    assert_clean(seen)

    linked = await visit("/ui?status=failed")  # the filter is in the address: it can be shared
    await expect(linked.page.locator("#gallery-count")).to_have_text("2 failed jobs")
    assert await linked.page.get_by_label("Status").input_value() == "failed"
    assert_clean(linked)
