"""The Celery app's guarantees are configuration: pin them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.scheduler.celery_app import make_app
from services.scheduler.config import SolverSettings
from services.scheduler.tasks import EVOLVE_EPOCH


def test_app_settings() -> None:
    settings = SolverSettings(
        redis_url="redis://127.0.0.1:6399/3", epoch_time_limit=120, visibility_timeout=900
    )
    app = make_app(settings)
    conf = app.conf
    assert conf.broker_url == "redis://127.0.0.1:6399/3"  # Redis by default
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_serializer == conf.result_serializer == "json"
    assert conf.accept_content == ["json"] and conf.result_accept_content == ["json"]
    assert conf.task_time_limit == 120 and conf.task_soft_time_limit == 108
    assert conf.broker_transport_options["visibility_timeout"] == 900
    amqp = make_app(SolverSettings(broker_url="amqp://u:p@rabbit:5672//"))
    assert amqp.conf.broker_url.startswith("amqp://")


def test_epoch_task_is_registered_by_explicit_name() -> None:
    from services.scheduler.celery_app import app

    task = app.tasks[EVOLVE_EPOCH]
    assert task.acks_late and task.reject_on_worker_lost


def test_visibility_timeout_must_outlast_an_epoch() -> None:
    with pytest.raises(ValidationError, match="at least twice"):
        SolverSettings(visibility_timeout=100, epoch_time_limit=600)


def test_a_portfolio_names_strategies_of_this_core() -> None:
    from services.scheduler.islands import core_strategies

    assert SolverSettings(strategies=core_strategies()).strategies == core_strategies()
    with pytest.raises(ValidationError, match="'annealing' not a search strategy of this core"):
        SolverSettings(strategies=["suna", "annealing"])
    with pytest.raises(ValidationError, match="at least 1"):
        SolverSettings(strategies=[])
