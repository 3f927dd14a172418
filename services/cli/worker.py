"""`edgemarket worker`: a Celery worker running evolution epochs in the C core."""

from __future__ import annotations

import os
import socket
from typing import Annotated

import typer


def worker(
    concurrency: Annotated[
        int, typer.Option(help="Processes (epochs at once); default: CPUs.")
    ] = 0,
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
) -> None:
    """Join the solver's pool: EDGEMARKET_BROKER_URL (or EDGEMARKET_REDIS_URL) and
    EDGEMARKET_CONTENT_STORE must reach the scheduler's broker and content store."""
    from services.scheduler.celery_app import app
    from services.scheduler.config import get_solver_settings

    settings = get_solver_settings()
    argv = [
        "worker",
        "--pool=prefork",
        f"--concurrency={concurrency or os.cpu_count() or 1}",
        f"--queues={settings.queue}",
        f"--hostname=edgemarket-{os.getpid()}@{socket.gethostname()}",
        f"--loglevel={loglevel}",
        "--without-gossip",
        "--without-mingle",
    ]
    app.worker_main(argv)
