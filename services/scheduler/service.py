"""The scheduler, one solver identity: task.created → spec → islands x epochs on Celery workers
→ commit the best before the commit deadline → reveal it after (agent on chain, copy to IPFS)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from celery import Celery
from celery.exceptions import TimeoutError as CeleryTimeout
from celery.result import AsyncResult
from web3.exceptions import Web3Exception

from services.common import chain
from services.common.content import ContentError, ContentStore, cid_of_digest, open_content_store
from services.common.json_input import JsonObject
from services.common.logs import configure_logging, get_logger
from services.common.messages import Kind, Message, TaskCreatedArgs
from services.common.node import Node, connect
from services.common.process import run_loop, stop_event
from services.common.scoring import score_agent
from services.common.settlement import Keeper
from services.common.spec import SpecError, TaskSpec, parse_spec
from services.common.streams import consume
from services.scheduler.config import SolverSettings
from services.scheduler.islands import Candidate, epoch_seed, island_seed, migrate, plan, ranked
from services.scheduler.private_store import PrivateAgents
from services.scheduler.reveals import PendingReveal, RevealState, RevealStore, SolverTaskState
from services.scheduler.tasks import EVOLVE_EPOCH

log = get_logger("edgemarket.scheduler")

# Give up on an epoch that failed (not timed out) this many times: the island sits it out.
EPOCH_ATTEMPTS = 3


@dataclass(frozen=True)
class _Intake:
    spec_cid: str
    commit_deadline: int
    reveal_deadline: int


@dataclass
class EpochOutcome:
    """What one island returned for one epoch."""

    agents: list[bytes]  # best first
    best_fitness: int
    compute_seconds: float


def store_path(settings: SolverSettings, node: Node) -> Path:
    name = f"scheduler-{node.market.chain_id}-{node.market.address.lower()}-{node.address.lower()}.sqlite"
    return settings.state_dir / name


class EpochDispatcher:
    """Sends one epoch of every island to the workers and gathers the results. An epoch whose
    result is late is sent again (epochs are deterministic, so whichever copy finishes first
    is the answer); one that keeps failing leaves its island unchanged for this epoch."""

    def __init__(
        self, celery: Celery, private: PrivateAgents, *, queue: str, epoch_timeout: float
    ) -> None:
        self.celery = celery
        self.private = private
        self.queue = queue
        self.epoch_timeout = epoch_timeout

    def _send(self, args: list[Any]) -> AsyncResult:  # Any: Celery task arguments (str, int, list), JSON-serialised
        result: AsyncResult = self.celery.send_task(EVOLVE_EPOCH, args=args, queue=self.queue)
        return result

    def run(
        self,
        spec_cid: str,
        seeds: list[bytes],
        epoch: int,
        generations: int,
        inputs: list[list[bytes]],
        keep: int,
    ) -> list[EpochOutcome | None]:
        digests = [self.private.put_many(agents) for agents in inputs]
        args = [
            [spec_cid, str(epoch_seed(seeds[i], epoch)), epoch, generations, digests[i], keep]
            for i in range(len(seeds))
        ]
        sent: dict[int, list[AsyncResult]] = {i: [self._send(a)] for i, a in enumerate(args)}
        last_sent = dict.fromkeys(sent, time.monotonic())
        failures = dict.fromkeys(sent, 0)
        outcomes: list[EpochOutcome | None] = [None] * len(seeds)
        while sent:
            for i in list(sent):
                value = self._first_done(sent[i], i, epoch, failures)
                if value is not None:
                    outcomes[i] = EpochOutcome(
                        agents=[bytes.fromhex(h) for h in value["best"]],
                        best_fitness=int(value["best_fitness"]),
                        compute_seconds=float(value.get("compute_seconds", 0.0)),
                    )
                    for r in sent.pop(i):
                        r.forget()
                elif failures[i] >= EPOCH_ATTEMPTS:
                    log.error(
                        "epoch failed, island sits it out", extra={"island": i, "epoch": epoch}
                    )
                    del sent[i]
                elif not sent[i] or time.monotonic() - last_sent[i] > self.epoch_timeout:
                    if sent[i]:
                        log.warning(
                            "epoch late, sending it again", extra={"island": i, "epoch": epoch}
                        )
                    sent[i].append(self._send(args[i]))
                    last_sent[i] = time.monotonic()
            if sent:
                self._wait(sent, last_sent)
        return outcomes

    def _wait(self, sent: dict[int, list[AsyncResult]], last_sent: dict[int, float]) -> None:
        """Block until the first pending island's newest copy finishes (the result backend
        pushes it, so gathering adds no polling delay), or for at most a second, or until
        that island's copy is due to be sent again."""
        island = next(iter(sent))
        if not sent[island]:
            return
        left = self.epoch_timeout - (time.monotonic() - last_sent[island])
        with contextlib.suppress(CeleryTimeout):
            sent[island][-1].get(timeout=max(0.01, min(left, 1.0)), propagate=False)

    @staticmethod
    def _first_done(
        results: list[AsyncResult], island: int, epoch: int, failures: dict[int, int]
    ) -> JsonObject | None:
        for r in list(results):
            if not r.ready():
                continue
            if r.successful():
                value: JsonObject = r.result
                return value
            failures[island] += 1
            log.warning(
                "epoch failed",
                extra={"island": island, "epoch": epoch, "error": repr(r.result)},
            )
            results.remove(r)
            r.forget()
        return None


class Scheduler:
    """The solver: takes tasks from the stream, evolves on Celery, commits and reveals."""

    def __init__(
        self,
        settings: SolverSettings,
        node: Node,
        store: RevealStore,
        content: ContentStore,
        celery: Celery,
        private: PrivateAgents,
        in_flight: set[bytes] | None = None,
        tx_lock: threading.Lock | None = None,
    ) -> None:
        self.settings = settings
        # One account, several threads: transactions go out one at a time (nonces).
        self.tx_lock = tx_lock if tx_lock is not None else threading.Lock()
        # Commitments this process is sending right now (shared by the sibling threads): the
        # settle loop leaves them alone, or it would take them for a crash's leftovers.
        self.in_flight = in_flight if in_flight is not None else set()
        self.node = node
        self.market = node.market
        self.store = store
        self.content = content
        self.celery = celery
        self.private = private
        self.me = node.address
        self.keeper = Keeper(node, tx_lock=self.tx_lock)
        self.dispatcher = EpochDispatcher(
            celery, private, queue=settings.queue, epoch_timeout=settings.epoch_timeout
        )

    # ---------------------------------------------------------------- the stream side

    def on_task_created(self, message: Message) -> None:
        """Take the task on (spec valid, still open) or reject it once, with the reason logged."""
        args: TaskCreatedArgs = message.typed_args()
        if self.store.task(args.task_id) is not None:
            return  # a replay: already taken on or rejected
        spec_cid = cid_of_digest(bytes.fromhex(args.spec_digest[2:]))
        record = _Intake(spec_cid, args.commit_deadline, args.reveal_deadline)
        # UnknownTask propagates: our node may lag the indexer's; the stream retries (bounded).
        task = self.market.get_task(args.task_id)
        if task.state != chain.OnChainTaskState.OPEN:
            self._reject(args.task_id, record, f"task is {task.state.name.lower()}")
            return
        try:
            # The content store checks the bytes hash to the CID, i.e. to the digest on chain.
            spec = parse_spec(self.content.get(spec_cid), cid=spec_cid)
        except SpecError as exc:
            self._reject(args.task_id, record, str(exc))
            return
        except ContentError as exc:
            # Possibly transient (the store is down, the requester is still uploading): the
            # stream retries the message a bounded number of times, then dead-letters it.
            log.warning(
                "spec not available yet",
                extra={"task_id": args.task_id, "cid": spec_cid, "error": str(exc)},
            )
            raise
        reason = self._unworkable(spec) or self._unwanted(args)
        if reason:
            self._reject(args.task_id, record, reason)
            return
        self.store.put_task(
            args.task_id,
            SolverTaskState.ACCEPTED,
            spec_cid=record.spec_cid,
            commit_deadline=record.commit_deadline,
            reveal_deadline=record.reveal_deadline,
        )
        log.info(
            "task accepted", extra={"task_id": args.task_id, "spec": spec_cid, "title": spec.title}
        )

    def _unworkable(self, spec: TaskSpec) -> str:
        import bisuna

        if spec.scorer not in bisuna.SCORERS:
            return f"scorer {spec.scorer!r} is not in this core ({', '.join(bisuna.SCORERS)})"
        return ""

    def _unwanted(self, args: TaskCreatedArgs) -> str:
        if args.bounty < self.settings.min_bounty:
            return f"bounty {args.bounty} wei is below this solver's minimum {self.settings.min_bounty}"
        trusted = {a.lower() for a in self.settings.trusted_evaluators}
        if trusted:
            strangers = [e for e in args.evaluators if e.lower() not in trusted]
            if strangers:
                return f"evaluator(s) {', '.join(strangers)} not trusted by this solver"
        return ""

    def _reject(self, task_id: int, record: _Intake, reason: str) -> None:
        self.store.put_task(
            task_id,
            SolverTaskState.REJECTED,
            spec_cid=record.spec_cid,
            commit_deadline=record.commit_deadline,
            reveal_deadline=record.reveal_deadline,
            reason=reason,
        )
        log.warning("task rejected", extra={"task_id": task_id, "reason": reason})

    # ---------------------------------------------------------------- the work loop

    def step(self) -> None:
        """One pass of both loops (tests and single-threaded use)."""
        self.settle_step()
        self.work_step()

    def settle_step(self) -> None:
        """Reveal what is due, close settled tasks, take credits home. Runs in its own thread
        so a long evolution never delays another task's reveal."""
        self.reveal_due()
        for rec in self.store.tasks_in(SolverTaskState.COMMITTED):
            if not self.store.pending(rec.task_id):
                self.store.set_task_state(rec.task_id, SolverTaskState.DONE, "reveals settled")
        # Bonds come back at reveal and bounties at finalize, as credits: take them home.
        self.keeper.withdraw()

    def work_step(self) -> None:
        """Evolve and commit the oldest accepted task."""
        accepted = self.store.tasks_in(SolverTaskState.ACCEPTED)
        if accepted:
            self.solve(accepted[0].task_id)

    def solve(self, task_id: int) -> None:
        """Evolve on the workers until the budget is spent or the deadline nears, then commit."""
        rec = self.store.task(task_id)
        if rec is None:
            return
        try:
            task = self.market.get_task(task_id)
        except chain.UnknownTask:
            # Its creation was reorged away: nothing to work on.
            self.store.set_task_state(
                task_id, SolverTaskState.DONE, "task no longer on chain (reorg)"
            )
            return
        if task.state != chain.OnChainTaskState.OPEN:
            self.store.set_task_state(
                task_id, SolverTaskState.DONE, f"task is {task.state.name.lower()}"
            )
            return
        already = self.store.all_for(task_id)
        if already:
            # Committed before a restart: the reveal side takes it from here.
            self.store.set_task_state(task_id, SolverTaskState.COMMITTED)
            return
        if self.node.chain_now() >= task.commit_deadline - self.settings.commit_margin:
            self.store.set_task_state(
                task_id, SolverTaskState.DONE, "commit deadline passed before any work"
            )
            log.warning("too late to work on task", extra={"task_id": task_id})
            return
        spec = parse_spec(self.content.get(rec.spec_cid), cid=rec.spec_cid)
        best = self.evolve(task_id, rec.spec_cid, spec, task.commit_deadline)
        if best is None:
            self.store.set_task_state(
                task_id,
                SolverTaskState.DONE,
                "no epoch finished (late or failing workers: see their logs)",
            )
            return
        self.commit(task_id, best, task.commit_bond)
        self.store.set_task_state(task_id, SolverTaskState.COMMITTED)

    def evolve(
        self, task_id: int, spec_cid: str, spec: TaskSpec, commit_deadline: int
    ) -> Candidate | None:
        budget = spec.budget
        cut = plan(budget.generations, budget.islands, budget.epoch_generations)
        seeds = [
            island_seed(self.market.chain_id, self.market.address, task_id, self.me, i)
            for i in range(cut.islands)
        ]
        keep = max(self.settings.elite, self.settings.migrants, 1)
        inputs: list[list[bytes]] = [[] for _ in range(cut.islands)]
        best: Candidate | None = None
        finalists: list[Candidate] = []
        slowest = 0.0
        log.info(
            "evolving",
            extra={"task_id": task_id, "islands": cut.islands, "epochs": len(cut.epochs)},
        )
        for epoch, generations in enumerate(cut.epochs):
            # Stop when another epoch (as slow as the slowest so far) would miss the deadline.
            left = commit_deadline - self.settings.commit_margin - self.node.chain_now()
            if best is not None and left < slowest * 1.5:
                log.info(
                    "deadline near, committing early", extra={"task_id": task_id, "epoch": epoch}
                )
                break
            started = time.monotonic()
            outcomes = self.dispatcher.run(spec_cid, seeds, epoch, generations, inputs, keep)
            slowest = max(slowest, time.monotonic() - started)
            for i, outcome in enumerate(outcomes):
                if outcome is None:
                    continue
                inputs[i] = outcome.agents
                if outcome.agents:
                    cand = Candidate(outcome.agents[0], outcome.best_fitness, i)
                    finalists.append(cand)
                    best = ranked([cand] + ([best] if best else []))[0]
            inputs = migrate(inputs, self.settings.elite, self.settings.migrants)
            log.info(
                "epoch done",
                extra={
                    "task_id": task_id,
                    "epoch": epoch,
                    "best_fitness": best.fitness if best else None,
                },
            )
        return self.select(task_id, spec, finalists)

    def select(self, task_id: int, spec: TaskSpec, finalists: list[Candidate]) -> Candidate | None:
        """The agent to commit. Each epoch's fitness was measured on that epoch's own training
        cases, so the islands' champions are re-scored on one private validation draw, exactly
        as evaluators will score them (which also drops any that break the spec's limits)."""
        seed = hashlib.sha256(
            b"edgemarket/validation"
            + island_seed(self.market.chain_id, self.market.address, task_id, self.me, -1)
        ).digest()
        unique = {c.agent: c for c in finalists}
        scored = [
            Candidate(agent, score_agent(agent, spec, seed).score, c.island)
            for agent, c in unique.items()
        ]
        chosen = ranked(scored)[0] if scored else None
        if chosen is not None:
            log.info(
                "selected",
                extra={
                    "task_id": task_id,
                    "finalists": len(scored),
                    "validation_score": chosen.fitness,
                },
            )
        return chosen

    # ---------------------------------------------------------------- commit and reveal

    def commit(self, task_id: int, best: Candidate, bond: int) -> None:
        claimed = min(max(best.fitness, 0), chain.MAX_SCORE)
        salt = os.urandom(32)
        commitment = self.market.commitment_for(task_id, best.agent, claimed, salt)
        self.in_flight.add(commitment)
        try:
            # Durable before the transaction leaves: a crash after sending still reveals.
            self.store.record_commit_intent(task_id, commitment, best.agent, salt, claimed)
            try:
                with self.tx_lock:
                    tx = self.market.commit_solution(task_id, commitment, bond=bond)
            except (chain.CommitPhaseOver, chain.TaskNotOpen, chain.TooManyCommits) as exc:
                self.store.mark(commitment, RevealState.ABANDONED)
                log.warning("commit refused", extra={"task_id": task_id, "error": str(exc)})
                return
            solution_id = tx.event(chain.SolutionCommitted).solution_id
            self.store.mark(commitment, RevealState.COMMITTED, solution_id)
        finally:
            self.in_flight.discard(commitment)
        log.info(
            "committed",
            extra={
                "task_id": task_id,
                "solution_id": solution_id,
                "claimed_score": claimed,
                "agent_bytes": len(best.agent),
            },
        )

    def _find_solution(self, pending: PendingReveal) -> int | None:
        """The solution id of a commitment whose transaction we may or may not have sent."""
        count = self.market.solution_count(pending.task_id)
        for sid in range(count - 1, -1, -1):
            sol = self.market.get_solution(pending.task_id, sid)
            if sol.commitment == pending.commitment and sol.solver.lower() == self.me.lower():
                return sid
        return None

    def reveal_due(self) -> None:
        for listed in self.store.pending():
            if listed.commitment in self.in_flight:
                continue
            # Re-read: a commit that finished since the list was read has its solution id now,
            # and must not be taken for a crash's leftover and committed a second time.
            pending = self.store.get(listed.commitment)
            if pending is None or pending.state not in (
                RevealState.COMMITTING,
                RevealState.COMMITTED,
            ):
                continue
            try:
                self._settle(pending)
            except chain.ContractError as exc:
                log.warning(
                    "reveal not possible yet", extra={"task_id": pending.task_id, "error": str(exc)}
                )

    def _settle(self, pending: PendingReveal) -> None:
        try:
            task = self.market.get_task(pending.task_id)
        except chain.UnknownTask:
            self.store.mark(pending.commitment, RevealState.ABANDONED)
            log.warning("task no longer on chain (reorg)", extra={"task_id": pending.task_id})
            return
        now = self.node.chain_now()
        solution_id = pending.solution_id
        if solution_id is None:
            solution_id = self._find_solution(pending)
            if solution_id is not None:
                self.store.mark(pending.commitment, RevealState.COMMITTED, solution_id)
            elif task.state == chain.OnChainTaskState.OPEN and now < task.commit_deadline:
                # The commit never reached the chain (we died before sending): send it now.
                with self.tx_lock:
                    tx = self.market.commit_solution(
                        pending.task_id, pending.commitment, bond=task.commit_bond
                    )
                solution_id = tx.event(chain.SolutionCommitted).solution_id
                self.store.mark(pending.commitment, RevealState.COMMITTED, solution_id)
                log.info(
                    "commit sent after restart",
                    extra={"task_id": pending.task_id, "solution_id": solution_id},
                )
            else:
                self.store.mark(pending.commitment, RevealState.ABANDONED)
                log.warning("commitment never mined; abandoned", extra={"task_id": pending.task_id})
                return
        solution = self.market.get_solution(pending.task_id, solution_id)
        if solution.revealed:
            self._publish(pending)
            self.store.mark(pending.commitment, RevealState.REVEALED)
            return
        if task.state != chain.OnChainTaskState.OPEN or now >= task.reveal_deadline:
            self.store.mark(pending.commitment, RevealState.ABANDONED)
            log.error(
                "reveal window missed; the bond is forfeit",
                extra={"task_id": pending.task_id, "solution_id": solution_id},
            )
            return
        if now < task.commit_deadline:
            return  # commits still open: revealing now would hand our agent to copiers
        with self.tx_lock, contextlib.suppress(chain.AlreadyRevealed):
            self.market.reveal_solution(
                pending.task_id, solution_id, pending.agent, pending.claimed_score, pending.salt
            )
        self._publish(pending)
        self.store.mark(pending.commitment, RevealState.REVEALED)
        log.info("revealed", extra={"task_id": pending.task_id, "solution_id": solution_id})

    def _publish(self, pending: PendingReveal) -> None:
        """The copy of a revealed agent in the content store (only ever after its reveal)."""
        try:
            self.content.put(pending.agent)
        except ContentError as exc:
            # The agent is on chain anyway; the copy is a convenience.
            log.warning(
                "agent copy to the content store failed",
                extra={"task_id": pending.task_id, "error": str(exc)},
            )


def build(settings: SolverSettings) -> Scheduler:
    from services.scheduler.celery_app import make_app

    node = connect(settings, signed=True)
    store = RevealStore(store_path(settings, node))
    client = redis.Redis.from_url(settings.redis_url)
    private = PrivateAgents(client, settings.private_prefix, settings.private_ttl)
    return Scheduler(
        settings, node, store, open_content_store(settings), make_app(settings), private
    )


LOOP_ERRORS = (
    chain.ChainError,
    chain.ContractError,
    ContentError,
    redis.RedisError,
    OSError,
    Web3Exception,  # RPC errors, receipt timeouts
)


def _loop(name: str, step: Callable[[], None], stop: threading.Event, interval: float) -> None:
    run_loop(f"{name} loop", step, stop, interval=interval, retry_on=LOOP_ERRORS, log=log)


def run(settings: SolverSettings | None = None, *, stop: threading.Event | None = None) -> None:
    """`edgemarket run scheduler`: three loops sharing the durable store, each with its own chain
    connection (web3 sessions are per thread): the stream consumer (intake), the settle loop
    (reveal, withdraw) and, here, the work loop (evolve, commit)."""
    settings = settings or SolverSettings()
    configure_logging(settings.log_level)
    stop = stop_event(stop)
    worker = build(settings)
    log.info("scheduler up", extra={"solver": worker.me, "contract": worker.market.address})

    def sibling() -> Scheduler:
        return Scheduler(
            settings,
            worker.node.fresh(),
            worker.store,
            worker.content,
            worker.celery,
            worker.private,
            worker.in_flight,
            worker.tx_lock,
        )

    intake, settler = sibling(), sibling()
    handlers: dict[Kind, Callable[[Message], None]] = {Kind.TASK_CREATED: intake.on_task_created}
    threads = [
        threading.Thread(
            target=consume,
            args=(
                redis.Redis.from_url(settings.redis_url),
                settings.stream,
                f"scheduler-{worker.me.lower()}",
                socket.gethostname(),
                handlers,
            ),
            kwargs={"stop": stop},
            name="scheduler-intake",
            daemon=True,
        ),
        threading.Thread(
            target=_loop,
            args=("settle", settler.settle_step, stop, settings.keeper_interval),
            name="scheduler-settle",
            daemon=True,
        ),
    ]
    for t in threads:
        t.start()
    try:
        _loop("work", worker.work_step, stop, settings.keeper_interval)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=5)
