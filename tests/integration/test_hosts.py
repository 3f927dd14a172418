"""The marketplace across network hosts (namespaces on a bridge), set up as the README's
"Run a worker or an evaluator on another machine" tells a user, then put through faults:
a worker's cable cut mid-epoch, the evaluator partitioned from the chain through the reveal
window, 50 ms and 1 % loss on every worker link, and the solver's Redis restarting.

One set of hosts serves the whole module (tests/fixtures/hosted_market.py); each test makes
its own task. Needs root and iproute2 (scripts/test-deps.sh installs it).
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.fixtures.hosted_market import (
    DEMO_SPEC,
    EVALUATORS,
    RIVAL,
    SOLVER,
    Market,
    cmdline_of,
    descendants,
    start_market,
    wait_log,
)
from tests.fixtures.hosts import wait_for

pytestmark = [pytest.mark.slow]

# Epochs of a few seconds each, so that a cable can be cut while one runs.
LONG_EPOCHS: dict[str, Any] = {
    **DEMO_SPEC,
    "budget": {"population": 64, "generations": 400, "islands": 2, "epoch_generations": 200},
}


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Market]:
    yield from start_market(tmp_path_factory.mktemp("hosts"))


def _solutions(market: Market, task_id: int) -> list[Any]:  # Any: SolutionInfo
    m = market.market()
    return [m.get_solution(task_id, i) for i in range(m.solution_count(task_id))]


def _paid(market: Market, task_id: int, timeout: float) -> Any:  # Any: TaskInfo
    task = market.wait_finalized(task_id, timeout)
    assert task.has_best, f"task {task_id} finalized without a verified winner"
    best = market.market().get_solution(task_id, task.best_solution_id)
    assert best.verified and best.revealed
    return task


def test_remote_setup_as_the_readme_tells(market: Market) -> None:
    market.check_alive()
    # No secret on any command line: the Redis password, keystore passwords, private keys.
    for name, process in market.procs.items():
        for pid in descendants(process.pid):
            line = cmdline_of(pid)
            for secret in market.secrets_in_use:
                assert secret not in line, f"a secret is on the command line of {name} (pid {pid})"
            assert "rediss://" not in line and "PASSWORD" not in line.upper(), (name, line)
    solver = market.hosts["solver"]
    # Redis answers only TLS with a certificate from our CA, and only with the password.
    with pytest.raises(redis.ConnectionError):
        redis.Redis(host=solver.ip, port=6379, socket_connect_timeout=3).ping()
    with pytest.raises(redis.ConnectionError):  # plain TCP to the TLS port
        redis.Redis(host=solver.ip, port=6380, socket_connect_timeout=3, socket_timeout=3).ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(
            host=solver.ip,
            port=6380,
            ssl=True,
            ssl_ca_certs=str(market.tls.ca),
            socket_connect_timeout=3,
        ).ping()
    with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
        redis.Redis.from_url(  # the system's CAs do not know the test CA: refused
            f"rediss://:{market.redis_password}@{solver.ip}:6380/0", socket_connect_timeout=3
        ).ping()
    assert market.redis().ping()
    # The workers' Celery connections check the certificate too (kombu alone would not).
    from services.scheduler.celery_app import redis_tls_options

    options = redis_tls_options(market.redis_url(Path("/x/ca.pem")))
    assert options == {"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_ca_certs": "/x/ca.pem"}
    for name in ("worker-1", "worker-2"):
        wait_log(market.procs[name], "ready.", 120)
        assert "defaulting to insecure" not in market.procs[name].log_text().lower()


# Tasks whose payout a later test checks: each test waits only for what its fault is about,
# so that the tasks' windows overlap and the module takes minutes, not a quarter of an hour.
PENDING: dict[str, int] = {}


def test_latency_and_loss_on_every_worker_link_the_demo_task_is_committed(market: Market) -> None:
    workers = [market.hosts["worker-1"], market.hosts["worker-2"]]
    marks = {w.name: len(market.procs[w.name].log_text()) for w in workers}
    m = market.market()
    solver, rival = market.accounts[SOLVER], market.accounts[RIVAL]
    for w in workers:
        w.impair(delay_ms=50, loss=0.01)
    try:
        task_id = market.create_task(
            DEMO_SPEC, commit_seconds=60, reveal_seconds=20, eval_window=60
        )
        PENDING["latency"] = task_id
        # the workers' part ends with the solver's commitment: until then every epoch, result
        # and migrant travels over the impaired links
        wait_for(
            "both solvers to commit",
            lambda: m.commit_count(task_id, solver) == 1 and m.commit_count(task_id, rival) == 1,
            150,
            1.0,
        )
    finally:
        for w in workers:
            w.impair(0, 0)
    ran = [
        w.name
        for w in workers
        if "succeeded in" in market.procs[w.name].log_text()[marks[w.name] :]
    ]
    assert ran, "no epoch finished on a worker host"
    market.check_alive()


def test_worker_link_cut_mid_epoch_then_evaluator_partitioned_through_the_reveal_window(
    market: Market,
) -> None:
    w1, evaluator, chain = (
        market.hosts["worker-1"],
        market.hosts["evaluator"],
        market.hosts["chain"],
    )
    worker_1, scheduler = market.procs["worker-1"], market.procs["scheduler"]
    sched_mark, mark = len(scheduler.log_text()), len(worker_1.log_text())
    m = market.market()
    me = market.accounts[SOLVER]
    task_id = market.create_task(LONG_EPOCHS, commit_seconds=100, reveal_seconds=25, eval_window=90)
    info = m.get_task(task_id)
    cut = blocked = False
    try:
        # 1. worker-1's cable is cut while it runs an epoch of this task, and restored later
        wait_log(worker_1, "evolve_epoch", 90, after=mark)
        w1.link_down()
        cut = True
        wait_log(scheduler, "epoch late, sending it again", 90, after=sched_mark)
        time.sleep(5)
        w1.link_up()
        cut = False
        # 2. the evaluator host is cut from the chain before the reveal window opens ...
        wait_for(
            "the commit deadline to come near",
            lambda: market.chain_time() >= info.commit_deadline - 3,
            150,
            0.5,
        )
        assert m.commit_count(task_id, me) == 1
        evaluator.block(chain)
        blocked = True
        # ... until it has closed, and healed well before the evaluation window closes
        wait_for(
            "the reveal deadline to pass",
            lambda: market.chain_time() > info.reveal_deadline + 3,
            120,
            0.5,
        )
        assert market.chain_time() < info.eval_deadline - 30
        evaluator.unblock(chain)
        blocked = False
        _paid(market, task_id, timeout=240)
    finally:
        if cut:
            w1.link_up()
        if blocked:
            evaluator.unblock(chain)
    # the cut epoch was redone elsewhere, and nothing was committed twice or lost
    assert m.commit_count(task_id, me) == 1, "committed twice"
    mine = [s for s in _solutions(market, task_id) if s.solver.lower() == me.lower()]
    assert len(mine) == 1 and mine[0].revealed and mine[0].verified, "the solver's work was lost"
    # every evaluator attested every revealed solution, once
    _attested_everything_once(market, task_id)
    market.check_alive()


def test_the_task_run_through_latency_and_loss_reached_a_verified_payout(market: Market) -> None:
    task_id = PENDING.get("latency")
    assert task_id is not None, "the latency test did not create its task"
    _paid(market, task_id, timeout=180)
    _attested_everything_once(market, task_id)


def _attested_everything_once(market: Market, task_id: int) -> None:
    from services.common.chain import ScoreAttested

    m = market.market()
    revealed = [i for i, s in enumerate(_solutions(market, task_id)) if s.revealed]
    assert revealed, "no solution was revealed"
    attested: dict[tuple[int, str], int] = {}
    for e in m.get_events(0):
        if isinstance(e.event, ScoreAttested) and e.event.task_id == task_id:
            key = (e.event.solution_id, e.event.evaluator.lower())
            attested[key] = attested.get(key, 0) + 1
    for sid in revealed:
        for index in EVALUATORS:
            who = market.accounts[index].lower()
            count = attested.get((sid, who), 0)
            assert count == 1, (
                f"evaluator {who} attested solution {sid} of task {task_id} {count} times"
            )


def test_workers_reconnect_by_themselves_after_redis_restarts(market: Market) -> None:
    market.restart_redis()
    # epochs sent after the restart are run by both worker hosts, with no help
    from services.common.content import KuboContentStore
    from services.common.spec import parse_spec
    from services.scheduler.celery_app import make_app
    from services.scheduler.config import SolverSettings
    from services.scheduler.tasks import EVOLVE_EPOCH

    content = KuboContentStore(market.content_url)
    spec_cid = content.put(parse_spec(json.dumps(DEMO_SPEC).encode()).to_bytes())
    content.close()
    app = make_app(SolverSettings(redis_url=market.operator_redis_url))
    pids = {market.procs[n].pid: n for n in ("worker-1", "worker-2")}
    seen: set[str] = set()

    def both_ran() -> bool:
        results = [
            app.send_task(EVOLVE_EPOCH, args=[spec_cid, str(s), 0, 5, [], 2]) for s in range(4)
        ]
        for r in results:
            value = r.get(timeout=60)
            pid = int(str(value["worker"]).split("@")[0].removeprefix("edgemarket-"))
            if pid in pids:
                seen.add(pids[pid])
        return seen == set(pids.values())

    wait_for("both workers to run epochs after the restart", both_ran, 180, 1.0)
    market.check_alive()
