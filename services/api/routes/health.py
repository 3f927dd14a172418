"""GET /health: is the API up, can it read its projection, how far has the projection got."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from services.api.deps import DB
from services.api.guard import GuardedRoute
from services.api.problems import ProblemError
from services.api.routes.read_model import projected_head

router = APIRouter(tags=["health"], route_class=GuardedRoute)


class Health(BaseModel):
    status: str
    database: str
    projected_block: int | None


@router.get("/health", response_model=Health)
def health(db: DB) -> Health:
    try:
        db.exec(text("SELECT 1"))  # type: ignore[call-overload]
        head = projected_head(db)
    except Exception as exc:
        raise ProblemError(
            503,
            "database-unavailable",
            "Database unavailable",
            f"the projection database does not answer or has no tables yet ({type(exc).__name__}); is it running, has the projector migrated it?",
        ) from exc
    return Health(status="ok", database="ok", projected_block=head[0] if head else None)
