"""The Celery app of the solver: the scheduler sends epochs, workers run them in the C core."""

from __future__ import annotations

import logging
import ssl
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from celery import Celery
from celery.signals import after_setup_logger

from services.scheduler.config import SolverSettings, get_solver_settings

_CERT_REQS = {
    "required": ssl.CERT_REQUIRED,
    "cert_required": ssl.CERT_REQUIRED,
    "optional": ssl.CERT_OPTIONAL,
    "cert_optional": ssl.CERT_OPTIONAL,
    "none": ssl.CERT_NONE,
    "cert_none": ssl.CERT_NONE,
}


def redis_tls_options(url: str) -> dict[str, Any] | None:  # Any: ssl constants and paths
    """The TLS options of a rediss:// URL for Celery, certificate checks on unless the URL
    says `ssl_cert_reqs=none`; None for any other scheme.

    Left to themselves, Celery's result backend refuses a rediss:// URL without
    `ssl_cert_reqs` and kombu's broker connects to it with no certificate check at all. A
    private CA is named in the URL: `?ssl_ca_certs=/path/ca.pem` (as redis-py reads it too)."""
    parts = urlsplit(url)
    if parts.scheme != "rediss":
        return None
    query = {k: unquote(v[-1]) for k, v in parse_qs(parts.query).items()}
    reqs = query.get("ssl_cert_reqs", "required").lower()
    if reqs not in _CERT_REQS:
        raise ValueError(
            f"ssl_cert_reqs={reqs!r} in the Redis URL: use required (the default), optional or none"
        )
    options: dict[str, Any] = {"ssl_cert_reqs": _CERT_REQS[reqs]}  # Any: see above
    for key in ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile"):
        if query.get(key):
            options[key] = query[key]
    return options


class _App(Celery):  # type: ignore[misc]  # Celery ships no types
    """Celery with the one-round-trip Redis result backend (services/scheduler/results.py)."""

    def _get_backend(self) -> Any:  # Any: a Celery result backend
        url = self.conf.result_backend
        if isinstance(url, str) and urlsplit(url).scheme in ("redis", "rediss"):
            from services.scheduler.results import OneTripRedisBackend

            return OneTripRedisBackend(app=self, url=url)
        return super()._get_backend()


def make_app(settings: SolverSettings) -> Celery:
    """A Celery app on the configured broker (Redis by default, RabbitMQ by amqp:// URL)."""
    app = _App(
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
        # No STARTED state: Celery writes it before the task runs, two round trips to Redis
        # that a far worker waits for every epoch; the epoch's first progress report (sent from
        # a thread of its own, with the same hostname and pid) says it is running.
        task_track_started=False,
        task_default_queue=settings.queue,
        broker_transport_options={"visibility_timeout": settings.visibility_timeout},
        result_backend_transport_options={"visibility_timeout": settings.visibility_timeout},
        result_expires=24 * 3600,
        broker_connection_retry_on_startup=True,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_hijack_root_logger=False,
        enable_utc=True,
    )
    broker_tls = redis_tls_options(settings.effective_broker_url)
    if broker_tls is not None:
        app.conf.broker_use_ssl = broker_tls
    backend_tls = redis_tls_options(settings.redis_url)
    if backend_tls is not None:
        app.conf.redis_backend_use_ssl = backend_tls
    return app


@after_setup_logger.connect  # type: ignore[untyped-decorator]  # Celery ships no types
def _quiet_results(**_: Any) -> None:  # Any: Celery signal keyword arguments, ignored
    # Celery logs every task's return value at INFO; ours are unrevealed agents, which must
    # not leak into logs before their reveal. Failures are still logged (at ERROR).
    logging.getLogger("celery.app.trace").setLevel(logging.WARNING)


app = make_app(get_solver_settings())
