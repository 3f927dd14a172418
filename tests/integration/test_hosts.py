"""The marketplace across network hosts (namespaces on a bridge), set up as the README's
"Run a worker or an evaluator on another machine" tells a user, then put through faults:
a worker's cable cut mid-epoch, the evaluator partitioned from the chain through the reveal
window, 50 ms and 1 % loss on every worker link, and the solver's Redis restarting.

One set of hosts serves the whole module (tests/fixtures/hosted_market.py); each test makes
its own task. Needs root and iproute2 (scripts/test-deps.sh installs it).
"""

from __future__ import annotations

import itertools
import json
import ssl
import threading
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

# One pytest worker runs this whole module (make test: --dist loadfile): the tests share their
# hosts, and the partition test joins the latency test's thread.
pytestmark = [pytest.mark.slow]

# Epochs of a few seconds each, so that a cable can be cut while one runs.
LONG_EPOCHS: dict[str, Any] = {
    **DEMO_SPEC,
    "budget": {"population": 48, "generations": 360, "islands": 2, "epoch_generations": 180},
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


# The tasks' windows overlap so that the module takes minutes, not a quarter of an hour: the
# latency test's task is partitioned in a thread while the link-cut test runs its own task,
# and the partition test checks that task's payout.
PENDING: dict[str, Any] = {}


def _commit_limit(task: Any) -> int:  # Any: TaskInfo
    """The scheduler's per-task limit (SolverSettings' defaults, which the fixture keeps): at
    most max_commits, and no more than the reveal window reveals at seconds_per_reveal each."""
    from services.scheduler.config import SolverSettings

    fields = SolverSettings.model_fields
    window = task.reveal_deadline - task.commit_deadline
    return min(
        int(fields["max_commits"].default), int(window / fields["seconds_per_reveal"].default)
    )


def _settled_without_loss(market: Market, task_id: int, timeout: float = 120) -> dict[str, int]:
    """The anytime solvers' invariants on a finalized task, for the solver and the rival: each
    committed at least once and at most the per-task limit; no commitment and no agent twice,
    each commitment an improvement on the one before (a higher claim, or a smaller perfect
    agent); every commitment revealed exactly once; no bond forfeited, and every bond back
    (at verification, or reclaimed after finalize). Returns the commitments per solver."""
    from services.common.chain import BondForfeited, BondReturned, SolutionRevealed

    m = market.market()
    task = m.get_task(task_id)
    limit = _commit_limit(task)
    solutions = _solutions(market, task_id)
    counts: dict[str, int] = {}
    for role, index in (("solver", SOLVER), ("rival", RIVAL)):
        me = market.accounts[index].lower()
        mine = [(sid, s) for sid, s in enumerate(solutions) if s.solver.lower() == me]
        counts[role] = len(mine)
        assert 1 <= len(mine) <= limit, f"{role} made {len(mine)} commitments (limit {limit})"
        assert m.commit_count(task_id, me) == len(mine)
        assert len({s.commitment for _, s in mine}) == len(mine), f"{role}: a commitment twice"
        assert len({s.agent_digest for _, s in mine}) == len(mine), f"{role}: an agent twice"
        for (_, before), (sid, after) in itertools.pairwise(mine):
            better = after.claimed_score > before.claimed_score or (
                after.claimed_score == before.claimed_score == 1_000_000
                and after.agent_size < before.agent_size
            )
            assert better, f"{role}'s solution {sid} does not improve on its previous one"
        lost = [sid for sid, s in mine if not s.revealed]
        assert not lost, f"{role}'s commitments {lost} were never revealed (bonds lost)"

    def bonds_back() -> bool:
        events = [e.event for e in m.get_events(0) if getattr(e.event, "task_id", None) == task_id]
        reveals: dict[int, int] = {}
        for e in events:
            if isinstance(e, SolutionRevealed):
                reveals[e.solution_id] = reveals.get(e.solution_id, 0) + 1
        assert all(n == 1 for n in reveals.values()), f"revealed more than once: {reveals}"
        forfeited = [e for e in events if isinstance(e, BondForfeited)]
        assert not forfeited, f"bonds forfeited: {forfeited}"
        for role, index in (("solver", SOLVER), ("rival", RIVAL)):
            me = market.accounts[index].lower()
            back = sum(
                e.amount for e in events if isinstance(e, BondReturned) and e.solver.lower() == me
            )
            if back != counts[role] * task.commit_bond:
                return False
        return True

    wait_for(f"every bond of task {task_id} back", bonds_back, timeout, 1.0)
    return counts


def _scheduler_lines(market: Market, name: str = "scheduler") -> list[dict[str, Any]]:
    lines = []
    for raw in market.procs[name].log_text().splitlines():
        if raw.startswith("{"):
            try:
                lines.append(json.loads(raw))
            except ValueError:
                continue
    return lines


class Partition(threading.Thread):
    """Cut the evaluator host from the chain host just before `task_id`'s reveal window opens,
    heal it once the window has closed, and check that healing left time to attest."""

    def __init__(self, market: Market, task_id: int) -> None:
        super().__init__(daemon=True)
        self.market, self.task_id = market, task_id
        self.error: BaseException | None = None
        self.healed_with_s: float | None = None

    def run(self) -> None:
        evaluator, chain = self.market.hosts["evaluator"], self.market.hosts["chain"]
        info = self.market.market().get_task(self.task_id)
        blocked = False
        try:
            wait_for(
                "the commit deadline to come near",
                lambda: self.market.chain_time() >= info.commit_deadline - 3,
                300,
                0.5,
            )
            evaluator.block(chain)
            blocked = True
            wait_for(
                "the reveal deadline to pass",
                lambda: self.market.chain_time() > info.reveal_deadline + 3,
                300,
                0.5,
            )
            evaluator.unblock(chain)
            blocked = False
            self.healed_with_s = info.eval_deadline - self.market.chain_time()
        except BaseException as exc:  # reported by the test that joins the thread
            self.error = exc
        finally:
            if blocked:
                evaluator.unblock(chain)


def test_latency_and_loss_on_every_worker_link_the_demo_task_is_committed(market: Market) -> None:
    workers = [market.hosts["worker-1"], market.hosts["worker-2"]]
    marks = {w.name: len(market.procs[w.name].log_text()) for w in workers}
    m = market.market()
    solver = market.accounts[SOLVER]
    for w in workers:
        w.impair(delay_ms=50, loss=0.01)
    try:
        task_id = market.create_task(
            DEMO_SPEC, commit_seconds=60, reveal_seconds=25, eval_window=90
        )
        PENDING["latency"] = task_id
        # This task's reveal window is also the one the evaluator host spends cut from the
        # chain (the thread cuts it 3 s before the commit deadline).
        partition = Partition(market, task_id)
        partition.start()
        PENDING["partition"] = partition
        info = m.get_task(task_id)
        # The anytime solver evolves until its margin before the commit deadline, committing
        # each improvement: the whole commit window runs over the impaired links.
        wait_for(
            "the commit window to close",
            lambda: market.chain_time() >= info.commit_deadline,
            150,
            1.0,
        )
    finally:
        for w in workers:
            w.impair(0, 0)
    # The solver has no worker but these two: every one of its epochs ran on them, over the
    # impaired links (Celery logs each epoch a worker receives; results are not logged).
    received = sum(
        market.procs[w.name].log_text()[marks[w.name] :].count("evolve_epoch[") for w in workers
    )
    done = [
        line
        for line in _scheduler_lines(market)
        if line.get("msg") == "epoch done" and line.get("task_id") == task_id
    ]
    assert len(done) >= 4 and received >= len(done), (len(done), received)
    assert 1 <= m.commit_count(task_id, solver) <= _commit_limit(info)
    market.check_alive()


def test_worker_link_cut_mid_epoch_is_redone_elsewhere_nothing_lost_or_doubled(
    market: Market,
) -> None:
    w1 = market.hosts["worker-1"]
    worker_1 = market.procs["worker-1"]
    first = len(_scheduler_lines(market))
    task_id = market.create_task(LONG_EPOCHS, commit_seconds=80, reveal_seconds=20, eval_window=60)
    cut = False
    try:
        # Past each island's first epoch (one generation, to measure the speed), epochs last
        # seconds: worker-1's cable is cut as it receives one of them, and restored later.
        wait_for(
            "both islands' first epochs",
            lambda: (
                {
                    line.get("island")
                    for line in _scheduler_lines(market)
                    if line.get("msg") == "epoch done" and line.get("task_id") == task_id
                }
                >= {0, 1}
            ),
            90,
            0.2,
        )
        mark = len(worker_1.log_text())
        wait_log(worker_1, "evolve_epoch[", 60, after=mark)
        w1.link_down()
        cut = True

        def late_line() -> int | None:
            lines = _scheduler_lines(market)
            for k in range(first, len(lines)):
                line = lines[k]
                if (
                    line.get("msg") == "epoch late, sending it again"
                    and line.get("task_id") == task_id
                ):
                    return k + 1
            return None

        at = wait_for("the cut epoch sent again", late_line, 60, 0.5) - 1
        island = _scheduler_lines(market)[at].get("island")

        def redone() -> bool:  # by worker-2, while worker-1 is still cut off
            return any(
                line.get("msg") == "epoch done"
                and line.get("task_id") == task_id
                and line.get("island") == island
                for line in _scheduler_lines(market)[at:]
            )

        wait_for("the late epoch redone", redone, 60, 0.5)
        w1.link_up()
        cut = False
        _paid(market, task_id, timeout=300)
    finally:
        if cut:
            w1.link_up()
    counts = _settled_without_loss(market, task_id)
    assert counts["solver"] >= 1
    # nothing the scheduler recorded was abandoned or forfeit
    for line in _scheduler_lines(market):
        if line.get("task_id") == task_id:
            assert line.get("msg") not in (
                "reveal window missed; the bond is forfeit",
                "commitment never mined; abandoned",
                "commit refused",
            ), line
    _attested_everything_once(market, task_id)
    market.check_alive()


def test_evaluator_partitioned_through_the_reveal_window_attested_everything_once(
    market: Market,
) -> None:
    """(the latency test's task: impaired worker links, then the evaluator cut off)"""
    task_id, partition = PENDING.get("latency"), PENDING.get("partition")
    assert task_id is not None and partition is not None, "the latency test did not run"
    partition.join(300)
    assert not partition.is_alive()
    if partition.error is not None:
        raise partition.error
    assert partition.healed_with_s is not None and partition.healed_with_s >= 30, (
        f"healed only {partition.healed_with_s} s before the evaluation window closed"
    )
    _paid(market, task_id, timeout=240)
    _attested_everything_once(market, task_id)
    _settled_without_loss(market, task_id)


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
    marks = {n: len(market.procs[n].log_text()) for n in ("worker-1", "worker-2")}
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
    for name, mark in marks.items():  # they did lose their connection, and came back alone
        assert "Connection to broker lost" in market.procs[name].log_text()[mark:], name
    market.check_alive()
