"""The `/ui` routes over plain HTTP: the page shells need no key and hold nobody's data; the
fragments that fill them need a key, show only the owner's jobs and escape the user's text;
every asset the pages name is served by the API itself."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from tests.browser.test_ui import sessions, submit, wait_ended
from tests.pipeline.tenants import assert_refused, mint

pytestmark = pytest.mark.stack
__all__ = ["sessions"]  # a fixture, used by name
PAGES = ("/ui", "/ui/upload", f"/ui/jobs/{uuid.uuid4()}")
HOSTILE = '<script>alert("fox")</script> & <img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
async def owners(sessions, base_url):
    """Two owners, each with a finished job whose prompt is markup."""
    found = []
    for _ in range(2):
        tenant = await mint(sessions)
        client = httpx.AsyncClient(base_url=base_url, headers=tenant.headers, timeout=30)
        job = await submit(client, HOSTILE)
        found.append((tenant, client, await wait_ended(client, job["id"])))
    yield found
    for _, client, _ in found:
        await client.aclose()


async def test_the_index_links_the_page(anon):
    assert (await anon.get("/")).json()["ui"] == "/ui"


@pytest.mark.parametrize("path", PAGES)
async def test_the_page_shells_need_no_key_and_name_only_local_assets(anon, path):
    page = await anon.get(path)

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "<script>" not in page.text  # every script is a file: the policy forbids inline ones
    assets = re.findall(r'<(?:script|link)[^>]* (?:src|href)="([^"]*)"', page.text)
    assert sorted(assets) == ["/static/ui/icon.svg", "/static/ui/ui.css", "/static/ui/ui.js"]
    for url in assets:
        served = await anon.get(url)
        assert served.status_code == 200, url
        assert len(served.content) > 200, url


async def test_the_fragments_refuse_a_missing_or_wrong_key(anon, owners):
    tenant, _, job = owners[0]
    wrong = {"Authorization": f"Bearer {tenant.token[:-4]}zzzz"}
    for path in ("/ui/fragments/jobs", f"/ui/fragments/jobs/{job['id']}"):
        assert_refused(await anon.get(path), path)
        assert_refused(await anon.get(path, headers=wrong), path)


async def test_a_fragment_shows_only_the_owners_jobs(owners):
    (_, mine, my_job), (_, theirs, their_job) = owners

    own = await mine.get(f"/ui/fragments/jobs/{my_job['id']}")
    other = await mine.get(f"/ui/fragments/jobs/{their_job['id']}")
    gallery = await mine.get("/ui/fragments/jobs")

    assert own.status_code == 200
    assert f'data-job-id="{my_job["id"]}"' in own.text
    assert other.status_code == 404
    assert other.json() == {"detail": f"job {their_job['id']} not found"}
    assert my_job["id"] in gallery.text
    assert their_job["id"] not in gallery.text
    assert "1 job" in gallery.text
    assert own.headers["cache-control"] == "no-store"
    shell = await theirs.get(f"/ui/jobs/{my_job['id']}")  # a shell names the id, nothing else
    assert shell.status_code == 200
    assert "fox" not in shell.text


async def test_the_users_text_is_escaped(owners):
    _, mine, job = owners[0]
    for path in (f"/ui/fragments/jobs/{job['id']}", "/ui/fragments/jobs"):
        html = (await mine.get(path)).text
        assert "<script>" not in html, path
        assert "<img src=x" not in html, path
        assert "&lt;script&gt;alert(&#34;fox&#34;)&lt;/script&gt; &amp; &lt;img" in html, path


async def test_the_gallery_refuses_a_bad_filter(owners):
    _, mine, _ = owners[0]
    assert (await mine.get("/ui/fragments/jobs?status=nope")).status_code == 422
    assert (await mine.get("/ui/fragments/jobs?page=-1")).status_code == 422


async def test_a_page_past_the_end_leads_back_to_the_last_one(owners):
    _, mine, _ = owners[0]
    html = (await mine.get("/ui/fragments/jobs?page=5")).text

    assert "Nothing on this page." in html
    assert 'data-page="0"' in html
    assert "Page 6 of 1" in html
