"""Renders are background work: their processes run at a lower CPU priority than the API's
event loop, so a burst of previews on a small machine cannot push every other route's
latency up (the loop wins the CPU whenever both want it)."""

from __future__ import annotations

import asyncio
import os

from services.api.renders import RENDER_NICENESS, Renders


def _my_niceness() -> bytes:
    return str(os.nice(0)).encode()


def test_render_processes_run_below_the_api_priority() -> None:
    renders = Renders(workers=1)
    try:
        niceness = int(asyncio.run(renders.get("probe", _my_niceness)))
    finally:
        renders.close()
    assert RENDER_NICENESS > 0
    assert niceness == min(19, os.nice(0) + RENDER_NICENESS)
