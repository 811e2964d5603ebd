"""GET /api/v1/jobs/{job_id}/events: a job's status and progress as server-sent events."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Header, HTTPException, status
from fastapi.responses import StreamingResponse

from api.auth import CallerDep, keyed_router
from api.deps import JobIdDep, ServicesDep
from api.job_events import JobEventHub, get_hub, job_event_stream
from api.openapi import responses
from core.repository import get_job

router = keyed_router(prefix="/api/v1", tags=["jobs"])
EVENT_EXAMPLE = 'event: status\nid: 2\ndata: {"id": "…", "status": "processing", …}\n\n'
_EVENT_ID = re.compile(r"[0-9]{1,18}")


@router.get(
    "/jobs/{job_id}/events",
    response_class=StreamingResponse,
    responses={
        **responses(404, 422, 503),
        200: {
            "content": {
                "text/event-stream": {"schema": {"type": "string"}, "example": EVENT_EXAMPLE}
            },
            "description": "Events `status`, `progress` and a last `done`, each holding the "
            "whole job document as its `data`",
        },
    },
)
async def job_events(
    services: ServicesDep,
    caller: CallerDep,
    hub: Annotated[JobEventHub, Depends(get_hub)],
    job_id: JobIdDep,
    last_event_id: Annotated[str | None, Header(max_length=32)] = None,
) -> StreamingResponse:
    """Follow a job: a `status` event at each status change, a `progress` event at each
    progress change and a last `done`, each with the whole job document; a comment line
    at least every 15 s. `Last-Event-ID` resumes after that event; an ended job sends
    `done` at once."""
    async with services.sessions() as session:
        job = await get_job(session, job_id, owner=caller.sees)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job {job_id} not found")
    # An id this API never sent (not a number) resumes nothing: the stream starts afresh.
    last_id = int(last_event_id) if last_event_id and _EVENT_ID.fullmatch(last_event_id) else None
    return StreamingResponse(
        job_event_stream(services, hub, job_id, last_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
