"""The scheduler, one solver identity: task.created → spec → islands x epochs on Celery workers
→ commit the best before the commit deadline → reveal it after (agent on chain, copy to IPFS)."""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import redis
from celery import Celery
from celery.exceptions import TimeoutError as CeleryTimeout
from celery.result import AsyncResult
from eth_utils.address import to_checksum_address
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
from services.common.streams import TRANSIENT, consume
from services.scheduler.allocation import TaskOutlook, allocate
from services.scheduler.config import SolverSettings
from services.scheduler.islands import (
    Candidate,
    epoch_seed,
    improves,
    island_seed,
    ranked,
    sized_epoch,
)
from services.scheduler.private_store import PrivateAgents
from services.scheduler.reveals import PendingReveal, RevealState, RevealStore, SolverTaskState
from services.scheduler.shrink import shrink
from services.scheduler.tasks import EVOLVE_EPOCH

log = get_logger("edgemarket.scheduler")

# Give up on an epoch that failed (not timed out) this many times: the island sits it out.
EPOCH_ATTEMPTS = 3
# Islands one task may have (running or idle, their populations in the private store).
MAX_ISLANDS_PER_TASK = 1024
# The settle loop leaves bonds and credits alone while a reveal is this close (or open).
REVEAL_SOON_SECONDS = 5
# A worker process that returned no epoch for this long no longer counts as serving.
WORKER_SEEN_SECONDS = 120.0


@dataclass(frozen=True)
class _Intake:
    spec_cid: str
    commit_deadline: int
    reveal_deadline: int


def store_path(settings: SolverSettings, node: Node) -> Path:
    name = f"scheduler-{node.market.chain_id}-{node.market.address.lower()}-{node.address.lower()}.sqlite"
    return settings.state_dir / name


@dataclass
class Island:
    """One island of a task: its population lives in the private store between epochs."""

    index: int
    seed: bytes
    strategy: str
    epochs: int = 0  # epochs finished
    population: list[str] = field(default_factory=list)  # digests, best first
    champions: list[bytes] = field(default_factory=list)  # its last epoch's best agents
    sent: list[AsyncResult] = field(default_factory=list)  # copies of the running epoch
    args: list[Any] | None = None  # Any: the running epoch's Celery arguments
    generations: int = 0
    sent_at: float = 0.0
    expected_seconds: float = 0.0  # the running epoch's generations at the measured speed
    failures: int = 0
    dead: bool = False


@dataclass
class LiveTask:
    """A task the work loop is evolving now, as this solver sees it."""

    task_id: int
    spec_cid: str
    spec: TaskSpec
    commit_deadline: int
    reveal_deadline: int
    bounty: int
    bond: int
    last: Candidate | None  # the best we handed to the committer so far
    islands: list[Island] = field(default_factory=list)
    seconds_per_generation: float | None = None
    largest: int = 0  # generations of the task's largest finished epoch
    last_sent: float = 0.0  # time.monotonic() of its last epoch sent (who waited longest)
    best: Candidate | None = None  # the best agent so far, by validation score
    validated: dict[bytes, int] = field(default_factory=dict)
    shrunk: set[bytes] = field(default_factory=set)  # perfect agents already pruned
    commit_due: bool = False  # a new best to consider committing
    rivals: int = 0
    refreshed: float = 0.0

    def idle_island(self, new: Callable[[LiveTask], Island]) -> Island | None:
        """The lowest idle island (its population waits in the private store), else a new one."""
        for island in self.islands:
            if not island.sent and not island.dead:
                return island
        if len(self.islands) >= MAX_ISLANDS_PER_TASK:
            return None
        island = new(self)
        self.islands.append(island)
        return island


@dataclass(frozen=True)
class Proposal:
    """What the work loop hands the commit thread: commit `candidate` on the task if it is
    still worth it; `final` (why the task was retired) closes the task on our side after."""

    task_id: int
    candidate: Candidate | None
    bond: int
    commit_deadline: int
    reveal_deadline: int
    final: str = ""


class CommitMailbox:
    """Proposals waiting for the commit thread, so the work loop never waits for a block: per
    task only the newest waits (a better champion replaces one not yet sent), and the task
    whose commit window closes first goes first."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._waiting: dict[int, Proposal] = {}
        self._busy: set[int] = set()

    def put(self, proposal: Proposal) -> None:
        with self._cv:
            old = self._waiting.get(proposal.task_id)
            if old is not None and old.final and not proposal.final:
                proposal = replace(proposal, final=old.final)
            self._waiting[proposal.task_id] = proposal
            self._cv.notify()

    def take(self, timeout: float) -> Proposal | None:
        with self._cv:
            if not self._waiting:
                self._cv.wait(timeout)
            if not self._waiting:
                return None
            tid = min(self._waiting, key=lambda t: (self._waiting[t].commit_deadline, t))
            self._busy.add(tid)
            return self._waiting.pop(tid)

    def done(self, proposal: Proposal) -> None:
        with self._cv:
            self._busy.discard(proposal.task_id)
            self._cv.notify_all()

    def pending(self) -> int:
        """Proposals waiting or being sent."""
        with self._cv:
            return len(self._waiting) + len(self._busy)


def epoch_args(
    spec_cid: str, island: Island, generations: int, inputs: list[str], keep: int
) -> list[Any]:  # Any: Celery task arguments (str, int, list), JSON-serialised
    """The arguments of an island's next epoch (`edgemarket.evolve_epoch`): its seed for that
    epoch, the digests of the agents it starts from, and its population carried back."""
    seed = str(epoch_seed(island.seed, island.epochs))
    return [spec_cid, seed, island.epochs, generations, inputs, keep, island.strategy, True]


class EpochDispatcher:
    """Sends islands' epochs to the workers and gathers each one as it completes. An epoch
    whose result is late is sent again (epochs are deterministic, so whichever copy finishes
    first is the answer); one that keeps failing gives its island up."""

    def __init__(self, celery: Celery, *, queue: str, epoch_timeout: float) -> None:
        self.celery = celery
        self.queue = queue
        self.epoch_timeout = epoch_timeout

    def send(self, island: Island, args: list[Any], expires: float | None = None) -> None:  # Any: see epoch_args
        """Queue one epoch of the island; one not started within `expires` seconds is
        dropped by the worker."""
        island.args = args
        island.sent.append(self._send(args, expires))
        island.sent_at = time.monotonic()

    def _send(self, args: list[Any], expires: float | None = None) -> AsyncResult:  # Any: see epoch_args
        result: AsyncResult = self.celery.send_task(
            EVOLVE_EPOCH, args=args, queue=self.queue, expires=expires
        )
        return result

    def poll(
        self, island: Island, task_id: int, expires: float | None = None
    ) -> JsonObject | None:
        """The island's epoch result once a copy has finished (None until then); a copy
        late by `epoch_timeout` is sent again, like the first to expire within `expires`
        seconds (none is sent when that is already over: the result is no longer needed)."""
        value = self._first_done(island, task_id)
        late = island.sent and time.monotonic() - island.sent_at > self.epoch_timeout
        if value is None and late and (expires is None or expires > 0):
            log.warning(
                "epoch late, sending it again", extra={"task_id": task_id, "island": island.index}
            )
            assert island.args is not None
            island.sent.append(self._send(island.args, None if expires is None else max(expires, 1.0)))
            island.sent_at = time.monotonic()
        return value

    def wait(self, islands: list[Island], timeout: float) -> None:
        """Block until the epoch in flight expected to finish first finishes (the result
        backend pushes it), for at most `timeout` seconds; just sleep when none is. Expected
        first, not oldest: a short epoch sent after a long one is back first, and its worker
        waits for its next epoch until this returns."""
        due = min(
            (i for i in islands if i.sent),
            key=lambda i: (i.sent_at + i.expected_seconds, i.sent_at),
            default=None,
        )
        if due is None:
            time.sleep(timeout)
            return
        with contextlib.suppress(CeleryTimeout):
            due.sent[-1].get(timeout=timeout, propagate=False)

    @staticmethod
    def _first_done(island: Island, task_id: int) -> JsonObject | None:
        for r in list(island.sent):
            if not r.ready():
                continue
            if r.successful():
                value: JsonObject = r.result
                for other in island.sent:
                    other.forget()
                island.sent.clear()
                island.failures = 0
                return value
            island.failures += 1
            log.warning(
                "epoch failed",
                extra={"task_id": task_id, "island": island.index, "error": repr(r.result)},
            )
            island.sent.remove(r)
            r.forget()
            if island.failures >= EPOCH_ATTEMPTS:
                log.error(
                    "epoch keeps failing, island given up",
                    extra={"task_id": task_id, "island": island.index},
                )
                island.dead = True
                for other in island.sent:
                    other.forget()
                island.sent.clear()
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
            celery, queue=settings.queue, epoch_timeout=settings.epoch_timeout
        )
        # The work loop's tasks (its thread only), and commit bonds by task (wei).
        self.live: dict[int, LiveTask] = {}
        self.bonds: dict[int, int] = {}
        # Tasks retired and handed to the committer for their last commitment (never re-taken).
        self.retired: set[int] = set()
        # Worker processes (hostname/pid) that returned an epoch, and when: how many are serving.
        self.workers_seen: dict[str, float] = {}
        # Set by run(): commitments go to the commit thread; None: committed inline (tests).
        self.mailbox: CommitMailbox | None = None

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
        if self._reveals_due_soon():
            return  # reveals have a deadline, bonds and credits none: they wait a turn
        # Bonds come back at verification, or after finalize when the evaluators never verified
        # the solution (reclaimBonds); bounties at finalize; all as credits: take them home.
        for rec in self.store.tasks_in(SolverTaskState.DONE):
            self.keeper.settle_bonds(rec.task_id)
        self.keeper.withdraw()

    def work_step(self) -> float | None:
        """One turn of the market loop over every live task at once: take new tasks on, gather
        finished epochs (validate, commit an improvement), retire tasks whose window is closing,
        share the islands out again and send the epochs that are due; then wait briefly for
        the next result. Returns the pause before the next turn (None: the loop's interval)."""
        self._take_on()
        now = self.node.chain_now()
        self._harvest(now)
        self._refresh_and_retire(now)
        self._dispatch(now)
        # Proposed after dispatching; with run()'s commit thread a commit never holds up
        # the next epoch (it waits for its block there).
        for task in list(self.live.values()):
            if task.commit_due:
                task.commit_due = False
                self._propose(task)
        if not self.live:
            return None
        # Block for the oldest epoch, a quarter second at most: new tasks and other islands'
        # results are seen promptly.
        self.dispatcher.wait([i for t in self.live.values() for i in t.islands], 0.25)
        return 0.0

    # -- taking tasks on and off

    def _take_on(self) -> None:
        for rec in self.store.tasks_in(SolverTaskState.ACCEPTED):
            if rec.task_id in self.live or rec.task_id in self.retired:
                continue
            try:
                task = self.market.get_task(rec.task_id)
            except chain.UnknownTask:
                # Its creation was reorged away: nothing to work on.
                self.store.set_task_state(
                    rec.task_id, SolverTaskState.DONE, "task no longer on chain (reorg)"
                )
                continue
            if task.state != chain.OnChainTaskState.OPEN:
                self._finish(rec.task_id, f"task is {task.state.name.lower()}")
                continue
            ours = [p for p in self.store.all_for(rec.task_id) if p.state != RevealState.ABANDONED]
            last = ranked([Candidate(p.agent, p.claimed_score, 0) for p in ours])
            live = LiveTask(
                task_id=rec.task_id,
                spec_cid=rec.spec_cid,
                spec=parse_spec(self.content.get(rec.spec_cid), cid=rec.spec_cid),
                commit_deadline=task.commit_deadline,
                reveal_deadline=task.reveal_deadline,
                bounty=task.bounty,
                bond=task.commit_bond,
                last=last[0] if last else None,
            )
            self.bonds[rec.task_id] = task.commit_bond
            self.live[rec.task_id] = live
            log.info("working on task", extra={"task_id": rec.task_id, "commits_so_far": len(ours)})

    def _stop_at(self, task: LiveTask) -> float:
        return task.commit_deadline - self.settings.commit_margin

    def _refresh_and_retire(self, now: int) -> None:
        for task in list(self.live.values()):
            if time.monotonic() - task.refreshed >= self.settings.keeper_interval:
                try:
                    info = self.market.get_task(task.task_id)
                except chain.UnknownTask:
                    self._retire(task, "task no longer on chain (reorg)")
                    continue
                task.refreshed = time.monotonic()
                if info.state != chain.OnChainTaskState.OPEN:
                    self._retire(task, f"task is {info.state.name.lower()}")
                    continue
                task.rivals = info.solution_count - self.market.commit_count(task.task_id, self.me)
            # No epoch is sent after the stop; those still out (a loaded machine runs them
            # slower than measured) are waited for until half the margin is left.
            out = any(i.sent for i in task.islands)
            last_call = task.commit_deadline - self.settings.commit_margin / 2
            if now >= self._stop_at(task) and (not out or now >= last_call):
                self._retire(task, "commit window closing")

    def _retire(self, task: LiveTask, why: str) -> None:
        """Stop evolving a task: epochs still out are dropped (their results are not needed);
        the committer gets the last epochs' best while the window is still open and then closes
        the task on our side; its commitments are the settle loop's to reveal."""
        dropped = sum(1 for i in task.islands if i.sent)
        for island in task.islands:
            for r in island.sent:
                r.forget()
            island.sent.clear()
        del self.live[task.task_id]
        self.retired.add(task.task_id)
        log.info(
            "task retired",
            extra={
                "task_id": task.task_id,
                "why": why,
                "best_validation": task.best.fitness if task.best else None,
                "epochs": sum(i.epochs for i in task.islands),
                "epochs_dropped": dropped,
            },
        )
        closing = why == "commit window closing"
        self._submit(self._proposal(task, final=why, candidate=task.best if closing else None))

    def _finish(self, task_id: int, why: str) -> None:
        if any(p.state != RevealState.ABANDONED for p in self.store.all_for(task_id)):
            self.store.set_task_state(task_id, SolverTaskState.COMMITTED, why)
        else:
            self.store.set_task_state(task_id, SolverTaskState.DONE, f"{why}; nothing committed")

    # -- epochs out and back

    def _outlooks(self, now: int) -> list[TaskOutlook]:
        return [
            TaskOutlook(
                task_id=t.task_id,
                bounty=t.bounty,
                seconds_left=self._stop_at(t) - now,
                best_score=t.best.fitness if t.best else 0,
                rivals=t.rivals,
            )
            for t in self.live.values()
        ]

    def _dispatch(self, now: int) -> None:
        """Fill the free slots, at most EDGEMARKET_ISLANDS epochs in flight: the task furthest
        below its share gets the next island, and among equals the one that has waited longest
        for an epoch. With more live tasks than slots every task still has a share of one, so
        they take turns (none starves, a new task is first in line) while the workers' queue
        stays shallow: an epoch is sized when it is about to run, not a queue's length ago."""
        s = self.settings
        slots = s.islands
        share = allocate(
            self._outlooks(now),
            max(slots, len(self.live)),
            rule=s.allocation,
            horizon=s.value_horizon,
            gap_floor=s.value_gap_floor,
        )
        running = {tid: sum(1 for i in t.islands if i.sent) for tid, t in self.live.items()}
        free = slots - sum(running.values())
        full: set[int] = set()
        while free > 0:
            wanting = [
                tid for tid in self.live if tid not in full and share[tid] - running[tid] > 0
            ]
            if not wanting:
                break
            tid = max(wanting, key=lambda t: (share[t] - running[t], -self.live[t].last_sent, -t))
            task = self.live[tid]
            # Counted from when the epoch is expected to start: after the work queued ahead.
            seconds_left = self._stop_at(task) - now - self._queue_wait()
            generations = sized_epoch(
                task.seconds_per_generation,
                target_seconds=s.epoch_seconds,
                seconds_left=seconds_left,
                time_limit=s.epoch_time_limit,
                largest=task.largest,
            )
            island = task.idle_island(self._new_island)
            if generations < 1 or island is None:
                full.add(tid)
                continue
            self._send_epoch(task, island, generations, self._stop_at(task) - now)
            running[tid] += 1
            free -= 1

    def _queue_wait(self) -> float:
        """Seconds until a worker is expected to be free for one more epoch: the epochs in
        flight (the oldest as many as there are workers running, the rest queued whole)
        shared among the worker processes seen lately."""
        now = time.monotonic()
        out = sorted((i for t in self.live.values() for i in t.islands if i.sent), key=lambda i: i.sent_at)
        workers = self._workers(now)
        left = [
            max(0.0, i.expected_seconds - (now - i.sent_at)) if k < workers else i.expected_seconds
            for k, i in enumerate(out)
        ]
        return sum(left) / workers

    def _workers(self, now: float) -> int:
        """Worker processes that returned an epoch within the last WORKER_SEEN_SECONDS (1 until
        any has): the pool's size as this solver sees it, whatever its machines."""
        for name, seen in list(self.workers_seen.items()):
            if now - seen > WORKER_SEEN_SECONDS:
                del self.workers_seen[name]
        return max(1, len(self.workers_seen))

    def _new_island(self, task: LiveTask) -> Island:
        index = len(task.islands)
        strategies = self.settings.strategies
        return Island(
            index=index,
            seed=island_seed(self.market.chain_id, self.market.address, task.task_id, self.me, index),
            strategy=strategies[index % len(strategies)],
        )

    def _send_epoch(self, task: LiveTask, island: Island, generations: int, expires: float) -> None:
        """One epoch of one island: the champions of its ring neighbour among the task's
        islands, then its own carried population (the worker cuts what does not fit from the
        tail), by digest through the private store."""
        n = len(task.islands)
        neighbour = task.islands[(island.index - 1) % n]
        incoming = neighbour.champions[: self.settings.migrants] if neighbour is not island else []
        carried = self.private.put_many(incoming) + island.population
        inputs = list(dict.fromkeys(carried))[: task.spec.budget.population]
        keep = max(self.settings.migrants, 1)
        args = epoch_args(task.spec_cid, island, generations, inputs, keep)
        island.generations = generations
        island.expected_seconds = generations * (task.seconds_per_generation or 0.0)
        self.dispatcher.send(island, args, expires=max(expires, 1.0))
        task.last_sent = island.sent_at
        log.info(
            "epoch sent",
            extra={
                "task_id": task.task_id,
                "island": island.index,
                "epoch": island.epochs,
                "generations": generations,
                "expected_seconds": round(island.expected_seconds, 3),
            },
        )

    def _harvest(self, now: int) -> None:
        for task in list(self.live.values()):
            for island in task.islands:
                if island.sent:
                    # a late epoch's copy, like the first, expires at the stop
                    left = self._stop_at(task) - now
                    value = self.dispatcher.poll(island, task.task_id, expires=left)
                    if value is not None:
                        self._epoch_done(task, island, value)

    def _epoch_done(self, task: LiveTask, island: Island, value: JsonObject) -> None:
        island.epochs += 1
        island.population = [str(d) for d in value.get("population", [])]
        island.champions = [bytes.fromhex(h) for h in value["best"]]
        generations = max(int(value.get("generations", island.generations)), 1)
        task.largest = max(task.largest, generations)
        worker = f"{value.get('worker', '')}/{value.get('pid', '')}"
        self.workers_seen[worker] = time.monotonic()
        measured = float(value.get("compute_seconds", 0.0)) / generations
        old = task.seconds_per_generation
        # The slower of the last measure and a running mean: epochs are sized not to overrun.
        task.seconds_per_generation = measured if old is None else max(measured, (old + measured) / 2)
        if not island.champions:
            return
        champion = Candidate(island.champions[0], int(value["best_fitness"]), island.index)
        task.best = self.select(
            task.task_id, task.spec, [champion] + ([task.best] if task.best else []), task.validated
        )
        score = task.validated[champion.agent]
        if task.best is not None and task.best.fitness == chain.MAX_SCORE:
            self._shrink(task, island, task.best)
        task.commit_due = True
        log.info(
            "epoch done",
            extra={
                "task_id": task.task_id,
                "island": island.index,
                "epoch": island.epochs,
                "generations": generations,
                "compute_seconds": round(float(value.get("compute_seconds", 0.0)), 3),
                "worker": value.get("worker", ""),
                "started_at": value.get("started_at"),
                "finished_at": value.get("finished_at"),
                "harvested_at": time.time(),
                "training_fitness": int(value["best_fitness"]),
                "validation_score": score,
            },
        )

    def _shrink(self, task: LiveTask, island: Island, perfect: Candidate) -> None:
        """Once a task has a perfect agent, look for a smaller one: prune it while it stays
        perfect on the validation draw and a second private draw; the island's population goes
        on from the smaller agent (and its neighbour gets it as a migrant)."""
        if perfect.agent in task.shrunk:
            return
        task.shrunk.add(perfect.agent)
        seeds = [self._validation_seed(task.task_id), self._validation_seed(task.task_id, 1)]

        def still_perfect(agent: bytes) -> bool:
            return all(
                score_agent(agent, task.spec, seed).score == chain.MAX_SCORE for seed in seeds
            )

        smaller = shrink(perfect.agent, still_perfect, seconds=self.settings.shrink_seconds)
        task.shrunk.add(smaller)
        if len(smaller) >= len(perfect.agent):
            return
        task.validated[smaller] = chain.MAX_SCORE
        task.best = Candidate(smaller, chain.MAX_SCORE, island.index)
        island.champions.insert(0, smaller)
        island.population = self.private.put_many([smaller]) + island.population
        log.info(
            "perfect agent made smaller",
            extra={"task_id": task.task_id, "from_bytes": len(perfect.agent), "to_bytes": len(smaller)},
        )

    def _propose(self, task: LiveTask) -> None:
        """Hand the task's best to the committer when it beats what was handed before."""
        best = task.best
        if best is None or not improves(
            best, task.last, self.settings.improvement_margin, chain.MAX_SCORE
        ):
            return
        task.last = best
        self._submit(self._proposal(task, candidate=best))

    def _proposal(self, task: LiveTask, *, candidate: Candidate | None, final: str = "") -> Proposal:
        return Proposal(
            task.task_id, candidate, task.bond, task.commit_deadline, task.reveal_deadline, final
        )

    def _submit(self, proposal: Proposal) -> None:
        if self.mailbox is not None:
            self.mailbox.put(proposal)
        else:
            self.settle_proposal(proposal)

    def _maybe_commit(self, task: LiveTask) -> None:
        """Commit the task's best now if it is worth a commitment (single-threaded use)."""
        self.settle_proposal(self._proposal(task, candidate=task.best))

    def commit_step(self) -> float | None:
        """One turn of the commit thread: the most urgent proposal, committed or not."""
        assert self.mailbox is not None
        proposal = self.mailbox.take(timeout=1.0)
        if proposal is not None:
            try:
                self.settle_proposal(proposal)
            except LOOP_ERRORS:
                if proposal.final:  # closing the task must not be lost: try again next turn
                    self.mailbox.put(replace(proposal, candidate=None))
                raise
            finally:
                self.mailbox.done(proposal)
        return 0.0

    def settle_proposal(self, proposal: Proposal) -> None:
        """Commit the candidate if it still beats our best commitment by the margin, within the
        task's commitment limit and the bond budget (all read from the durable store, so the
        answer is the same after a restart); then close a retired task on our side."""
        if proposal.candidate is not None and self._worth_committing(proposal):
            self.commit(proposal.task_id, proposal.candidate, proposal.bond)
        if proposal.final:
            self._finish(proposal.task_id, proposal.final)

    def _worth_committing(self, p: Proposal) -> bool:
        s = self.settings
        assert p.candidate is not None
        rows = self.store.all_for(p.task_id)
        ours = ranked([Candidate(r.agent, r.claimed_score, 0) for r in rows if r.state != RevealState.ABANDONED])
        if not improves(p.candidate, ours[0] if ours else None, s.improvement_margin, chain.MAX_SCORE):
            return False
        made = max(len(rows), self.market.commit_count(p.task_id, self.me))
        if made >= self.commit_limit(p):
            return False
        # Reveals go out one at a time, so every commitment of ours must still be revealable
        # in time with this one, and one more for each task we have not committed on yet
        # (a first commitment is worth more than another improvement). All but a task's
        # first and a retired task's last proposal also leave room for that last (best) one.
        if not self._reveals_fit(p, 1 if p.final or not ours else 2):
            log.info("improvement not committed: no reveal room", extra={"task_id": p.task_id})
            return False
        locked = self.bonds_locked()
        if locked + p.bond > s.bond_budget:
            log.info(
                "improvement not committed: bond budget",
                extra={"task_id": p.task_id, "locked": locked, "budget": s.bond_budget},
            )
            return False
        return True

    def commit_limit(self, task: LiveTask | Proposal) -> int:
        """Commitments worth making on a task: at most max_commits, and no more than its reveal
        window can reveal at `seconds_per_reveal` each (an unrevealed commitment loses its bond)."""
        return max(0, min(self.settings.max_commits, self.revealable(task)))

    def revealable(self, task: LiveTask | Proposal) -> int:
        """Reveals that fit in the task's reveal window at `seconds_per_reveal` each."""
        window = task.reveal_deadline - task.commit_deadline
        return int(window / self.settings.seconds_per_reveal)

    def _reveals_fit(self, p: Proposal, more: int) -> bool:
        """Whether our unrevealed commitments, `more` on p's task and a first one on every other
        task we work on without a commitment yet can all be revealed in time at
        `seconds_per_reveal` each, as reveal_due sends them: none before its task's commit
        deadline, the task whose reveal window closes first first."""
        now = self.node.chain_now()
        windows: list[tuple[int, int]] = [(p.commit_deadline, p.reveal_deadline)] * more
        for pending in self.store.pending():
            rec = self.store.task(pending.task_id)
            if rec is not None and rec.reveal_deadline > now:
                windows.append((rec.commit_deadline, rec.reveal_deadline))
        for rec in self.store.tasks_in(SolverTaskState.ACCEPTED):
            mine = [r for r in self.store.all_for(rec.task_id) if r.state != RevealState.ABANDONED]
            if rec.task_id != p.task_id and not mine and now < rec.commit_deadline:
                windows.append((rec.commit_deadline, rec.reveal_deadline))  # kept for its first
        windows.sort()
        ready: list[int] = []  # reveal deadlines of the commitments whose reveal is open
        t, k = float(now), 0
        while k < len(windows) or ready:
            if not ready:
                t = max(t, windows[k][0])
            while k < len(windows) and windows[k][0] <= t:
                heapq.heappush(ready, windows[k][1])
                k += 1
            t += self.settings.seconds_per_reveal
            if t > heapq.heappop(ready):
                return False
        return True

    def bonds_locked(self) -> int:
        """Bonds of our commitments on tasks not yet settled on our side (wei)."""
        total = 0
        for rec in self.store.tasks_in(SolverTaskState.ACCEPTED, SolverTaskState.COMMITTED):
            n = sum(1 for p in self.store.all_for(rec.task_id) if p.state != RevealState.ABANDONED)
            if n:
                if rec.task_id not in self.bonds:
                    self.bonds[rec.task_id] = self.market.get_task(rec.task_id).commit_bond
                total += n * self.bonds[rec.task_id]
        return total

    def _validation_seed(self, task_id: int, draw: int = 0) -> bytes:
        """A private evaluation seed of ours for the task (draw 0 picks what to commit)."""
        material = b"edgemarket/validation" + island_seed(
            self.market.chain_id, self.market.address, task_id, self.me, -1
        )
        return hashlib.sha256(material + (f"/{draw}".encode() if draw else b"")).digest()

    def select(
        self,
        task_id: int,
        spec: TaskSpec,
        finalists: list[Candidate],
        scored: dict[bytes, int] | None = None,
    ) -> Candidate | None:
        """The agent to commit. Each epoch's fitness was measured on that epoch's own training
        cases, so the islands' champions are re-scored on one private validation draw, exactly
        as evaluators will score them (which also drops any that break the spec's limits);
        `scored` keeps validation scores already known."""
        seed = self._validation_seed(task_id)
        scored = {} if scored is None else scored
        for agent in dict.fromkeys(c.agent for c in finalists):
            if agent not in scored:
                scored[agent] = score_agent(agent, spec, seed).score
        islands = {c.agent: c.island for c in finalists}
        chosen = ranked([Candidate(a, scored[a], islands[a]) for a in islands])
        return chosen[0] if chosen else None

    # ---------------------------------------------------------------- commit and reveal

    def commit(self, task_id: int, best: Candidate, bond: int) -> bool:
        """Commit to `best` (its validation score claimed); False if the contract refused."""
        claimed = min(max(best.fitness, 0), chain.MAX_SCORE)
        salt = os.urandom(32)
        began = time.monotonic()
        commitment = self.market.commitment_for(task_id, best.agent, claimed, salt)
        self.in_flight.add(commitment)
        try:
            # Durable before the transaction leaves: a crash after sending still reveals.
            self.store.record_commit_intent(task_id, commitment, best.agent, salt, claimed)
            try:
                with self.tx_lock:
                    tx = self.market.commit_solution(task_id, commitment, bond=bond)
            except chain.ContractError as exc:
                # Refused at the estimate (the phase is over, too many commits...) or reverted
                # when mined (the deadline passed in between): nothing committed, no bond taken.
                self.store.mark(commitment, RevealState.ABANDONED)
                log.warning("commit refused", extra={"task_id": task_id, "error": str(exc)})
                return False
            except (chain.ChainError, OSError, Web3Exception) as exc:
                if isinstance(exc, chain.RpcError):
                    raise  # the node answered: refused, so nothing was sent
                # The node may have mined it and only the reply was lost. The intent is on
                # record: the settle loop finds the solution on chain, or sends the commit
                # again while commits are open. Either way this agent is committed, and the
                # work loop must not spend a second bond on it.
                log.warning(
                    "commit sent, its outcome unknown; the settle loop will read it from the chain",
                    extra={"task_id": task_id, "error": repr(exc)},
                )
                return True
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
                "seconds": round(time.monotonic() - began, 3),
            },
        )
        return True

    def _find_solution(self, pending: PendingReveal) -> int | None:
        """The solution id of a commitment whose transaction we may or may not have sent."""
        count = self.market.solution_count(pending.task_id)
        for sid in range(count - 1, -1, -1):
            sol = self.market.get_solution(pending.task_id, sid)
            if sol.commitment == pending.commitment and sol.solver.lower() == self.me.lower():
                return sid
        return None

    def _reveals_due_soon(self) -> bool:
        """Whether a commitment of ours is in, or within REVEAL_SOON_SECONDS of, its reveal
        window."""
        now = self.node.chain_now()
        for p in self.store.pending():
            rec = self.store.task(p.task_id)
            if rec is None:
                continue
            if rec.commit_deadline - REVEAL_SOON_SECONDS <= now < rec.reveal_deadline:
                return True
        return False

    def _transactions_pending(self) -> bool:
        """Whether transactions of ours wait in the node's pool (sent, not yet mined)."""
        eth, me = self.market.w3.eth, to_checksum_address(self.me)
        return eth.get_transaction_count(me, "pending") > eth.get_transaction_count(me, "latest")

    def reveal_due(self) -> None:
        """Reveal every commitment whose commit phase is over, the task whose reveal window
        closes first first."""
        records = {r.task_id: r for r in self.store.tasks_in(*SolverTaskState)}
        due = sorted(
            self.store.pending(),
            key=lambda p: records[p.task_id].reveal_deadline if p.task_id in records else 0,
        )
        # One clock for the whole pass: a commitment whose commit phase ends while the pass
        # runs waits for the next pass, so a later task's reveals never go before an earlier
        # one's (which a block mined mid-pass would otherwise allow).
        now = self.node.chain_now()
        for listed in due:
            if listed.commitment in self.in_flight:
                continue
            rec = records.get(listed.task_id)
            if listed.state is RevealState.COMMITTED and rec and now < rec.commit_deadline:
                continue  # nothing to do before the commit deadline (no RPC spent on it)
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
                if self._transactions_pending():
                    # Its transaction may be among them (the reply lost, or a predecessor's):
                    # sending the commitment again would make a second solution of it, never
                    # revealed, its bond lost. Look again once they are mined or dropped.
                    log.info(
                        "commitment not on chain yet, our transactions still pending; waiting",
                        extra={"task_id": pending.task_id},
                    )
                    return
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


def _loop(name: str, step: Callable[[], float | None], stop: threading.Event, interval: float) -> None:
    run_loop(f"{name} loop", step, stop, interval=interval, retry_on=LOOP_ERRORS, log=log)


def run(settings: SolverSettings | None = None, *, stop: threading.Event | None = None) -> None:
    """`edgemarket run scheduler`: four loops sharing the durable store, each with its own chain
    connection (web3 sessions are per thread): the stream consumer (intake), the settle loop
    (reveal, withdraw), the commit loop (the work loop's proposals, each waiting for its
    block there) and, here, the work loop (evolve, validate, propose)."""
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

    intake, settler, committer = sibling(), sibling(), sibling()
    worker.mailbox = committer.mailbox = CommitMailbox()
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
            kwargs={"stop": stop, "transient": (*TRANSIENT, chain.RpcUnavailableError)},
            name="scheduler-intake",
            daemon=True,
        ),
        threading.Thread(
            target=_loop,
            args=("settle", settler.settle_step, stop, settings.keeper_interval),
            name="scheduler-settle",
            daemon=True,
        ),
        threading.Thread(
            target=_loop,
            args=("commit", committer.commit_step, stop, settings.keeper_interval),
            name="scheduler-commit",
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
