"""GET /tasks/{id}/events: the task's leaderboard as server-sent events, one per projected change."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Path, Request
from sse_starlette.sse import EventSourceResponse

from services.api.deps import DB, ApiState, State
from services.api.problems import PROBLEM_RESPONSES
from services.api.routes.tasks import leaderboard_or_404, task_or_404
from services.common.json_input import JsonObject

router = APIRouter(tags=["tasks"], responses=PROBLEM_RESPONSES)


async def leaderboard_events(
    request: Request, state: ApiState, task_id: int
) -> AsyncIterator[JsonObject]:
    last: str | None = None
    while not await request.is_disconnected():
        cached = await leaderboard_or_404(state, task_id)
        if cached.etag != last:
            last = cached.etag
            yield {
                "event": "leaderboard",
                "id": cached.etag.strip('"'),
                "data": cached.body.decode(),
            }
        await asyncio.sleep(state.sse_poll_seconds)


@router.get(
    "/tasks/{task_id}/events",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "`leaderboard` events"}},
)
def task_events(
    task_id: Annotated[int, Path(ge=1, lt=2**63)], request: Request, db: DB, state: State
) -> EventSourceResponse:
    """Server-sent events: a `leaderboard` event now and whenever the projection changes it."""
    task_or_404(db, task_id)
    return EventSourceResponse(leaderboard_events(request, state, task_id), ping=15)
