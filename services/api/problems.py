"""RFC 9457 problem details: every error the API returns is one of these."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.common.json_input import JsonObject

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://edgemarket.dev/problems/"

log = logging.getLogger("edgemarket.api")


class Problem(BaseModel):
    """An RFC 9457 problem: `type` names the kind, `detail` says what to do about it."""

    type: str = Field(default="about:blank", description="URI naming the kind of problem")
    title: str = Field(description="short summary of the kind of problem")
    status: int = Field(description="the HTTP status code")
    detail: str | None = Field(default=None, description="what went wrong here and how to fix it")
    instance: str | None = Field(default=None, description="the request path")
    errors: list[JsonObject] | None = Field(
        default=None, description="for validation problems: each invalid field and why"
    )


class ProblemError(Exception):
    """Raise to answer with a problem; handlers turn it into application/problem+json."""

    def __init__(
        self,
        status: int,
        kind: str,
        title: str,
        detail: str | None = None,
        *,
        errors: list[JsonObject] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.kind = kind
        self.title = title
        self.detail = detail
        self.errors = errors
        self.headers = headers


def not_found(what: str, detail: str) -> ProblemError:
    return ProblemError(
        404, f"{what}-not-found", f"{what.replace('-', ' ').capitalize()} not found", detail
    )


def invalid(detail: str, *, errors: list[JsonObject] | None = None) -> ProblemError:
    return ProblemError(422, "invalid-request", "Request is not valid", detail, errors=errors)


# The problem responses every route may return, for the OpenAPI document.
PROBLEM_RESPONSES: dict[int | str, JsonObject] = {
    404: {"model": Problem, "description": "Not found", "content": {PROBLEM_MEDIA_TYPE: {}}},
    422: {"model": Problem, "description": "Invalid request", "content": {PROBLEM_MEDIA_TYPE: {}}},
}


def problem_response(
    request: Request, problem: Problem, headers: dict[str, str] | None = None
) -> JSONResponse:
    problem.instance = problem.instance or request.url.path
    return JSONResponse(
        problem.model_dump(exclude_none=True),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Request is not valid",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


def _slug(status: int) -> str:
    return _TITLES.get(status, f"http-{status}").lower().replace(" ", "-")


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    problem = Problem(
        type=PROBLEM_BASE + exc.kind,
        title=exc.title,
        status=exc.status,
        detail=exc.detail,
        errors=exc.errors,
    )
    return problem_response(request, problem, exc.headers)


async def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else None
    if exc.status_code == 404 and detail in (None, "Not Found"):
        detail = f"there is no resource at {request.url.path}; see /docs for the API"
    problem = Problem(
        type=PROBLEM_BASE + _slug(exc.status_code),
        title=_TITLES.get(exc.status_code, "HTTP error"),
        status=exc.status_code,
        detail=detail,
    )
    return problem_response(request, problem, dict(exc.headers) if exc.headers else None)


def _location(loc: tuple[Any, ...] | list[Any]) -> str:  # Any: pydantic/FastAPI error locations mix names and indexes
    return ".".join(str(part) for part in loc)


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": _location(err.get("loc", ())), "message": str(err.get("msg", "invalid"))}
        for err in exc.errors()
    ]
    summary = "; ".join(f"`{e['field']}`: {e['message']}" for e in errors[:5])
    problem = Problem(
        type=PROBLEM_BASE + "invalid-request",
        title="Request is not valid",
        status=422,
        detail=summary or "the request is not valid",
        errors=errors,
    )
    return problem_response(request, problem)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The traceback goes to the log only: it may name paths or settings a client must not see.
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    problem = Problem(
        type=PROBLEM_BASE + "internal-error",
        title="Internal server error",
        status=500,
        detail="the server failed to answer this request; the error is in its log",
    )
    return problem_response(request, problem)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(Exception, _on_unexpected)
