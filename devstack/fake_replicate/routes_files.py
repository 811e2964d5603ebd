"""Public routes (no token, like a CDN): output files and the SSE stream of a prediction.

A download renders its bytes on demand (in a worker thread) or streams the `output_bytes`
pattern, so nothing is stored per prediction. Truncation sends the full `Content-Length`, half
the bytes, then raises `TruncatedDownload`, which makes uvicorn drop the connection; `app.py`
keeps that expected exception out of the error log.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from devstack.fake_replicate.create import wait_until_done
from devstack.fake_replicate.images import CONTENT_TYPES, pattern_chunks, render_image
from devstack.fake_replicate.prediction import Prediction
from devstack.fake_replicate.problems import not_found
from devstack.fake_replicate.runtime import Runtime, RuntimeDep

router = APIRouter(prefix="/v1")
# Output files, apart from the API as replicate.delivery is from api.replicate.com.
delivery = APIRouter(prefix="/delivery")
CHUNK = 65_536
# Bodies of the `hostile` options that serve a file: (media type, bytes).
HOSTILE_BODIES = {
    "html": ("text/html", b"<!doctype html><html><script>alert(document.cookie)</script></html>"),
    "svg": (
        "image/svg+xml",
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    ),
    "html_as_png": ("image/png", b"<html><body><script>alert(1)</script></body></html>"),
}
# Where `redirect_private` sends: a port nothing listens on (it must never be asked).
REDIRECT_PRIVATE = "http://127.0.0.1:1/"


class TruncatedDownload(Exception):
    """Raised mid-body on purpose so that the server closes the connection early."""


def _chunks(data: bytes, size: int) -> Iterable[bytes]:
    return (data[i : i + size] for i in range(0, len(data), size))


async def _body(
    runtime: Runtime, chunks: Iterable[bytes], total: int, truncate: bool, rate: int
) -> AsyncIterator[bytes]:
    limit = total // 2 if truncate else total
    sent = 0
    for chunk in chunks:
        piece = chunk[: limit - sent]
        if piece:
            if rate:
                await asyncio.sleep(len(piece) / rate)
            sent += len(piece)
            runtime.counters.download_bytes += len(piece)
            yield piece
        if sent >= limit:
            break
    if truncate:
        raise TruncatedDownload(f"truncated after {sent} of {total} bytes")


def _file_of(runtime: Runtime, prediction_id: str, filename: str) -> tuple[Prediction, int]:
    prediction = runtime.store.get(prediction_id)
    if prediction is None or prediction.status() != "succeeded":
        raise not_found("file")
    names = prediction.output_names()
    if filename not in names:
        raise not_found("file")
    return prediction, names.index(filename)


@delivery.get("/{prediction_id}/{filename}")
@router.get("/files/{prediction_id}/{filename}")
async def download(
    request: Request, runtime: RuntimeDep, prediction_id: str, filename: str
) -> Response:
    runtime.counters.downloads += 1
    prediction, index = _file_of(runtime, prediction_id, filename)
    options = prediction.options
    if options.hostile in HOSTILE_BODIES:
        media_type, content = HOSTILE_BODIES[options.hostile]
        return Response(content, media_type=media_type)
    if options.hostile and options.hostile.startswith("redirect_") and request.query_params:
        target = {
            "redirect_private": REDIRECT_PRIVATE,
            "redirect_api": f"{runtime.base_url}/v1/account",
        }.get(options.hostile, str(request.url.remove_query_params("redirect")))
        return Response(status_code=302, headers={"location": target})
    truncate = await runtime.faults.keyed("download", options, request.url.path)
    truncate = truncate or runtime.faults.random_truncate()
    rate = options.slow_download or runtime.settings.slow_download_bytes_per_s
    if rate:
        runtime.counters.faults["download:slow"] += 1
    # Small chunks when throttled, so bytes trickle evenly rather than in long pauses.
    size = min(CHUNK, max(1024, rate // 10)) if rate else CHUNK
    if options.output_bytes is not None:
        total = options.output_bytes
        chunks: Iterable[bytes] = pattern_chunks(total, size if rate else 4 * CHUNK)
    else:
        data = await run_in_threadpool(
            render_image, prediction.input, prediction.seed, index, prediction.ext
        )
        total, chunks = len(data), _chunks(data, size)
    return StreamingResponse(
        _body(runtime, chunks, total, truncate, rate),
        media_type=CONTENT_TYPES[prediction.ext],
        headers={"content-length": str(total), "cache-control": "public, max-age=3600"},
    )


def _event(kind: str, event_id: int, data: str) -> bytes:
    lines = "".join(f"data: {line}\n" for line in data.split("\n"))
    return f"event: {kind}\nid: {event_id}\n{lines}\n".encode()


async def _events(runtime: Runtime, prediction: Prediction) -> AsyncIterator[bytes]:
    """Replicate's SSE protocol: `output` events (one per file), or `error`, then `done`."""
    await wait_until_done(prediction, max(0.0, prediction.end_mono - time.monotonic()) + 1.0)
    state = runtime.render(prediction)
    events: list[tuple[str, str]] = []
    if state["status"] == "succeeded":
        events = [("output", url) for url in state["output"]]
    elif state["status"] == "failed":
        events = [("error", orjson.dumps({"detail": state["error"]}).decode())]
    reason = {"canceled": {"reason": "canceled"}, "failed": {"reason": "error"}}
    events.append(("done", orjson.dumps(reason.get(state["status"], {})).decode()))
    for number, (kind, data) in enumerate(events, start=1):
        yield _event(kind, number, data)


@router.get("/predictions/{prediction_id}/stream")
async def stream(runtime: RuntimeDep, prediction_id: str) -> Response:
    prediction = runtime.store.get(prediction_id)
    if prediction is None:
        raise not_found("prediction")
    runtime.counters.streams += 1
    return StreamingResponse(
        _events(runtime, prediction),
        media_type="text/event-stream",
        headers={"cache-control": "no-store"},
    )
