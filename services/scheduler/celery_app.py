"""The Celery app of the solver: the scheduler sends epochs, workers run them in the C core."""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from celery.signals import after_setup_logger

from services.scheduler.config import SolverSettings, get_solver_settings


def make_app(settings: SolverSettings) -> Celery:
    """A Celery app on the configured broker (Redis by default, RabbitMQ by amqp:// URL)."""
    app = Celery(
        "edgemarket",
        broker=settings.effective_broker_url,
        backend=settings.redis_url,
        include=["services.scheduler.tasks"],
    )
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        # An epoch is acknowledged only once done; a worker that dies mid-epoch gives it back.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=settings.epoch_time_limit,
        task_soft_time_limit=settings.epoch_time_limit * 0.9,
        task_track_started=True,
        task_default_queue=settings.queue,
        broker_transport_options={"visibility_timeout": settings.visibility_timeout},
        result_backend_transport_options={"visibility_timeout": settings.visibility_timeout},
        result_expires=24 * 3600,
        broker_connection_retry_on_startup=True,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_hijack_root_logger=False,
        enable_utc=True,
    )
    return app


@after_setup_logger.connect  # type: ignore[untyped-decorator]  # Celery ships no types
def _quiet_results(**_: Any) -> None:  # Any: Celery signal keyword arguments, ignored
    # Celery logs every task's return value at INFO; ours are unrevealed agents, which must
    # not leak into logs before their reveal. Failures are still logged (at ERROR).
    logging.getLogger("celery.app.trace").setLevel(logging.WARNING)


app = make_app(get_solver_settings())
