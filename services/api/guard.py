"""What keeps hostile requests cheap: JSON bodies through the one parser, a body cap, timeouts.

FastAPI decodes JSON bodies with `json.loads`; with web3 imported (py_ecc raises the recursion
limit to 100,000) a body of ~100,000 nested `[` overflows the C stack and kills the process. Every
route class here parses the body with `parse_json` first and hands FastAPI the parsed value.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.problems import PROBLEM_BASE, PROBLEM_MEDIA_TYPE, Problem, ProblemError
from services.common.json_input import JsonInputError, parse_json

MAX_REQUEST_BYTES = 256 * 1024
"""The largest request body any route takes (a task spec is the largest)."""

# uvicorn: a slow client is timed out, not waited for.
HEADER_TIMEOUT_SECONDS = 10.0
"""A request's headers must arrive within this (h11's incomplete-event timeout)."""
KEEP_ALIVE_SECONDS = 5
"""An idle keep-alive connection is closed after this."""
MAX_CONNECTIONS = 1024
"""Connections beyond this get 503 at once rather than a queue (uvicorn's limit_concurrency)."""


def _json_media(content_type: str | None) -> bool:
    if not content_type:
        return True  # FastAPI reads a body without a content type as JSON too
    media = content_type.split(";")[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def has_body(request: Request) -> bool:
    headers = request.headers
    length = headers.get("content-length")
    return "transfer-encoding" in headers or (
        length is not None and length.strip() not in ("", "0")
    )


async def parse_body(request: Request) -> None:
    """Read and parse a JSON body once, with `parse_json`; FastAPI then uses the parsed value."""
    if not has_body(request) or not _json_media(request.headers.get("content-type")):
        return
    body = await request.body()
    if not body:
        return
    try:
        request._json = parse_json(body)  # Starlette's Request.json() returns this cached value
    except JsonInputError as exc:
        raise ProblemError(
            422, "invalid-json", "Body is not acceptable JSON", f"the request body: {exc}"
        ) from None


def _too_large(limit: int) -> HTTPException:
    # An HTTPException: FastAPI re-raises it from its own body reading, and the problem
    # handler (problems._on_http) answers it with a 413 problem document.
    return HTTPException(413, f"a request body is at most {limit} bytes")


class BodyLimit:
    """ASGI middleware: a request body beyond `max_bytes` is a 413 problem, read no further.

    A declared Content-Length beyond it is refused before the body is read; a chunked body is
    counted as it arrives."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_REQUEST_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.strip().isdigit() and int(declared) > self.max_bytes:
            problem = Problem(
                type=PROBLEM_BASE + "content-too-large",
                title="Content too large",
                status=413,
                detail=f"a request body is at most {self.max_bytes} bytes; this one declares {int(declared)}",
                instance=scope.get("path"),
            )
            response = JSONResponse(
                problem.model_dump(exclude_none=True),
                status_code=413,
                media_type=PROBLEM_MEDIA_TYPE,
                headers={"connection": "close"},
            )
            await response(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _too_large(self.max_bytes)
            return message

        await self.app(scope, counted, send)


class GuardedRoute(APIRoute):
    """An APIRoute whose JSON body goes through `parse_json` before FastAPI sees it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            await parse_body(request)
            return await handler(request)

        return guarded


def header_timeout_protocol(
    seconds: float = HEADER_TIMEOUT_SECONDS,
) -> type[Any]:  # Any: uvicorn's protocol class is untyped for subclassing
    """uvicorn's h11 protocol, plus a deadline for each request's headers.

    uvicorn times out idle keep-alive connections but not a client that sends its headers a
    byte at a time (receiving data cancels the keep-alive timer). This protocol arms a timer
    when a connection opens and after each response; if it fires while no request is in
    flight, the connection is closed."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeoutProtocol(H11Protocol):
        header_timeout = seconds

        def _arm_header_timer(self) -> None:
            timer = getattr(self, "_header_timer", None)
            if timer is not None:
                timer.cancel()
            self._header_timer = self.loop.call_later(self.header_timeout, self._header_timed_out)

        def _header_timed_out(self) -> None:
            cycle = self.cycle
            if cycle is not None and not cycle.response_complete:
                return  # a request's headers arrived: it is being answered
            if not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport: Any) -> None:  # Any: asyncio.Transport
            super().connection_made(transport)
            self._arm_header_timer()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm_header_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            timer = getattr(self, "_header_timer", None)
            if timer is not None:
                timer.cancel()
            super().connection_lost(exc)

    return HeaderTimeoutProtocol


def uvicorn_limits(
    header_timeout: float = HEADER_TIMEOUT_SECONDS,
) -> dict[str, Any]:  # Any: uvicorn.Config keyword values
    """The uvicorn.Config keywords that bound what a slow or greedy client can hold."""
    return {
        "http": header_timeout_protocol(header_timeout),
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "limit_concurrency": MAX_CONNECTIONS,
        "h11_max_incomplete_event_size": 16 * 1024,  # the largest request head accepted
    }
