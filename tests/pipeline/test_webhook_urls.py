"""A job's `webhook_url` is checked at submit (422, nothing written) and again at send time,
connected to the address the check approved (DNS rebinding), never to the service itself."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Iterator
from ipaddress import ip_address
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import col

from api.webhook_urls import check_webhook_url
from core.addresses import IPAddress, RefusedUrl, UrlPolicy
from core.hostlist import HostList
from core.models import Job
from core.outbound_http import WebhookSender
from tests.pipeline.receivers import Receiver, serving
from tests.pipeline.uploading import png, upload

PUBLIC = "93.184.215.14"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serving() as server:
        yield server


class Rebinding:
    """A resolver the test controls: each name answers its next address, then the last one."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.asked.append(host)
        if host not in self.answers:
            raise OSError(f"{host} does not resolve")
        queue = self.answers[host]
        return [ip_address(queue.pop(0) if len(queue) > 1 else queue[0])]


def _refused_urls(settings) -> list[tuple[str, str]]:
    api = f"http://{settings.api_host}:{settings.api_port}"
    return [
        (f"{settings.public_base_url}/api/v1/generate", "own address"),  # the self-loop
        (f"{api}/api/v1/generate", "own address"),
        (f"http://localhost:{settings.api_port}/api/v1/jobs", "own address"),
        ("http://169.254.169.254/latest/meta-data/", "http is allowed only for listed hosts"),
        ("https://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("https://10.0.0.1/hook", "private"),
        ("https://[::ffff:10.0.0.1]/hook", "IPv4-mapped"),
        ("https://2130706433/hook", "written unusually"),
        ("https://100.64.0.1/hook", "CGNAT"),
        ("https://no-such-host.invalid/hook", "does not resolve"),
    ]


async def test_refused_webhook_urls_are_422s_naming_the_field_and_writing_nothing(
    api, settings, sessions
):
    for url, reason in _refused_urls(settings):
        response = await api.post(
            "/api/v1/generate", json={"prompt": "a looping fox", "webhook_url": url}
        )
        assert response.status_code == 422, (url, response.text)
        detail = response.json()["detail"]
        assert detail[0]["loc"] == ["body", "webhook_url"], detail
        assert "webhook_url" in detail[0]["msg"], detail
        assert reason in detail[0]["msg"], (url, detail)
        async with sessions() as session:
            count = await session.scalar(
                sa.select(sa.func.count()).where(col(Job.webhook_url) == url)
            )
        assert count == 0, url


async def test_an_upload_with_a_refused_webhook_url_is_422_and_writes_nothing(api, sessions):
    for url, reason in (("https://10.0.0.1/hook", "private"), ("ftp://host/hook", "pattern")):
        response = await upload(api, png(), webhook_url=url)

        assert response.status_code == 422, (url, response.text)
        detail = response.json()["detail"]
        assert detail[0]["loc"] == ["body", "webhook_url"], detail
        assert reason in detail[0]["msg"], (url, detail)
        async with sessions() as session:
            count = await session.scalar(
                sa.select(sa.func.count()).where(col(Job.webhook_url) == url)
            )
        assert count == 0, url


async def test_a_listed_local_receiver_is_accepted(api, settings, receiver):
    url = f"http://127.0.0.1:{receiver.port}/hook"
    response = await api.post("/api/v1/generate", json={"prompt": "a fox", "webhook_url": url})
    assert response.status_code == 202, response.text


async def test_a_name_rebound_to_loopback_after_submit_is_refused_at_send(settings, receiver):
    resolver = Rebinding({"hooks.rebind.example": [PUBLIC, "127.0.0.1"]})
    url = f"https://hooks.rebind.example:{receiver.port}/hook"
    await check_webhook_url(url, settings, resolver)  # public at submit: accepted

    sender = WebhookSender.from_settings(settings, resolver)
    with pytest.raises(RefusedUrl, match=r"resolves to 127\.0\.0\.1: loopback"):
        await sender.post(url, b"{}", {})
    assert receiver.calls == []


async def test_the_send_connects_to_the_address_it_checked(settings, receiver):
    """Resolved once per send: a second answer (here a private address) is never used."""
    listed = settings.model_copy(update={"webhook_allowed_hosts": ["hooks.test"]})
    resolver = Rebinding({"hooks.test": ["127.0.0.1", "10.255.255.1"]})
    sender = WebhookSender.from_settings(listed, resolver)
    delivery = await sender.post(f"http://hooks.test:{receiver.port}/h", b'{"a": 1}', {})
    assert delivery.status == 204
    assert delivery.address == "127.0.0.1"
    assert receiver.hosts_and_bodies == [(f"hooks.test:{receiver.port}", b'{"a": 1}')]
    assert resolver.asked.count("hooks.test") == 1


async def test_the_sender_refuses_the_service_itself_even_when_listed(settings):
    sender = WebhookSender.from_settings(settings)
    with pytest.raises(RefusedUrl, match="own address"):
        await sender.post(f"{settings.public_base_url}/api/v1/generate", b"{}", {})


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[tuple[Receiver, ssl.SSLContext, list[str]]]:
    """An https receiver on 127.0.0.1 whose certificate names only `hooks.test`; yields it,
    a client context trusting its CA, and the SNI names it was asked for."""
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "1", "-subj", "/CN=test-ca",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=tmp_path,
    )  # fmt: skip
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr",
        "-subj", "/CN=hooks.test",
        cwd=tmp_path,
    )  # fmt: skip
    (tmp_path / "ext").write_text("subjectAltName=DNS:hooks.test\n")
    _openssl(
        "x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "leaf.pem", "-days", "1", "-extfile", "ext",
        cwd=tmp_path,
    )  # fmt: skip
    names: list[str] = []
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(tmp_path / "leaf.pem", tmp_path / "leaf.key")

    def heard(_sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        names.append(str(name))

    server_tls.sni_callback = heard
    with serving(tls=server_tls) as server:
        yield server, ssl.create_default_context(cafile=tmp_path / "ca.pem"), names


async def test_a_pinned_https_call_keeps_the_name_for_sni_and_the_certificate(tls_receiver):
    server, client_tls, names = tls_receiver
    resolver = Rebinding({"hooks.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    policy = UrlPolicy(allowed=HostList.parse(["hooks.test", "other.test"]), resolver=resolver)
    sender = WebhookSender(policy, tls=client_tls)

    delivery = await sender.post(f"https://hooks.test:{server.port}/h", b"{}", {})
    assert delivery.status == 204
    assert names == ["hooks.test"]
    assert server.hosts_and_bodies == [(f"hooks.test:{server.port}", b"{}")]

    # The same address under a name its certificate does not carry: verification fails.
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        await sender.post(f"https://other.test:{server.port}/h", b"{}", {})
    assert len(server.calls) == 1
