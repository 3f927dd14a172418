"""Renders (previews, graphs) in a bounded pool, single-flight, cached by the agent's digest.

A render is pure in its key (the agent's digest, and the spec's for a preview): it runs once in a
small pool of worker processes however many requests ask for it at once, its result is kept,
and when more distinct renders are queued than the pool can work off, further ones are refused
with a 503 problem instead of piling up. Processes, not threads: drawing an SVG or encoding a
PNG holds the GIL, and the event loop serving every other route must not wait for it."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Any

from services.api.problems import ProblemError

RENDER_WORKERS = 2
"""Renders run at once, each in a worker process."""
MAX_QUEUED_RENDERS = 16
"""Distinct renders waiting or running; beyond this a new one is a 503 problem."""
CACHE_BYTES = 64 * 1024 * 1024
"""Rendered bytes kept (least recently used go first)."""
MAX_RENDER_BYTES = 4 * 1024 * 1024
"""The largest picture or graph served; a render beyond it is a 422 problem."""
RENDER_NICENESS = 10
"""How much lower the render processes' CPU priority is than the API's (os.nice): renders are
background work, and on a machine with few cores the event loop must win the CPU whenever both
want it, or every route's latency follows the renders' load."""


def _lower_priority(increment: int) -> None:
    """The render processes' initializer."""
    os.nice(increment)


class Renders:
    """The API's render pool and cache; one per app (on ApiState)."""

    def __init__(
        self,
        workers: int = RENDER_WORKERS,
        max_queued: int = MAX_QUEUED_RENDERS,
        cache_bytes: int = CACHE_BYTES,
    ) -> None:
        self._workers = workers
        self._pool: Executor | None = None  # started on the first render
        self._max_queued = max_queued
        self._cache_bytes = cache_bytes
        self._cache: OrderedDict[Hashable, bytes] = OrderedDict()
        self._cached_bytes = 0
        self._inflight: dict[Hashable, asyncio.Future[bytes]] = {}
        self.renders = 0  # renders actually run (for tests and the bench)

    def cached(self, key: Hashable) -> bytes | None:
        data = self._cache.get(key)
        if data is not None:
            self._cache.move_to_end(key)
        return data

    def _executor(self) -> Executor:
        if self._pool is None:
            # spawn: a fork of a threaded server could inherit a held lock.
            self._pool = ProcessPoolExecutor(
                self._workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_lower_priority,
                initargs=(RENDER_NICENESS,),
            )
        return self._pool

    async def get(self, key: Hashable, render: Callable[..., bytes], *args: Any) -> bytes:  # Any: the render's picklable arguments
        """The bytes for `key`: cached, or the render under way, or `render(*args)` started in
        the pool (a module-level function: it runs in another process)."""
        data = self.cached(key)
        if data is not None:
            return data
        future = self._inflight.get(key)
        if future is None:
            if len(self._inflight) >= self._max_queued:
                raise ProblemError(
                    503,
                    "renders-busy",
                    "Too many renders under way",
                    f"{len(self._inflight)} renders are queued; try again in a few seconds",
                    headers={"Retry-After": "5"},
                )
            loop = asyncio.get_running_loop()
            self.renders += 1
            future = loop.run_in_executor(self._executor(), render, *args)
            self._inflight[key] = future
            future.add_done_callback(lambda done: self._settle(key, done))
        # shield: a client that goes away does not cancel the render others wait for.
        data = await asyncio.shield(future)
        if len(data) > MAX_RENDER_BYTES:
            raise ProblemError(
                422,
                "render-too-large",
                "Render too large",
                f"this render is {len(data)} bytes; the API serves at most {MAX_RENDER_BYTES}",
            )
        return data

    def _settle(self, key: Hashable, done: asyncio.Future[bytes]) -> None:
        if self._inflight.get(key) is done:
            del self._inflight[key]
        if done.cancelled() or done.exception() is not None:
            return  # every waiter sees the error; the next request tries again
        data = done.result()
        self._cache[key] = data
        self._cached_bytes += len(data)
        while self._cached_bytes > self._cache_bytes and self._cache:
            _, old = self._cache.popitem(last=False)
            self._cached_bytes -= len(old)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
