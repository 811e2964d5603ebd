"""Ending a request with no HTTP answer at all: the `lose_answer` fault.

The connection is aborted under the running request, the way a proxy or a network fault loses
an answer the server already committed to: the client's HTTP library sees the peer close with
no status line (httpx: `RemoteProtocolError`), never a 5xx it could read. Raising instead would
not do: Starlette and uvicorn both turn an exception before the response into a 500.

This reaches into uvicorn: the ASGI `receive` callable is bound to uvicorn's request cycle,
which holds the asyncio transport. The fake always runs under uvicorn (`__main__.py`).
"""

from __future__ import annotations

import asyncio

from fastapi import Request
from starlette.responses import Response

# uvicorn reports the disconnect on the next loop turn; this only bounds a surprise.
DISCONNECT_TIMEOUT = 2.0


async def drop_connection(request: Request) -> Response:
    """Abort the request's connection; returns a response that is never sent."""
    cycle = getattr(request.receive, "__self__", None)
    # uvloop's transports quack like asyncio's without subclassing them.
    abort = getattr(getattr(cycle, "transport", None), "abort", None)
    if not callable(abort):
        raise RuntimeError("lose_answer needs uvicorn: no transport behind this request")
    abort()
    # Wait until uvicorn itself has seen the disconnect: it then drops whatever the response
    # sends and logs nothing, where a response sent sooner could still reach the socket.
    async with asyncio.timeout(DISCONNECT_TIMEOUT):
        while (await request.receive())["type"] != "http.disconnect":
            pass
    return Response(status_code=499)
