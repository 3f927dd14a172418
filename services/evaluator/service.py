"""The evaluator: seed.set and solution.revealed → the agent from the chain, the spec from IPFS →
an independent re-score in the C core on the chain's evalSeed → attestScore, once."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from services.common import chain
from services.common.content import ContentStore, cid_of_digest, open_content_store
from services.common.json_input import JsonObject
from services.common.logs import configure_logging, get_logger
from services.common.messages import Kind, Message, SeedSetArgs, SolutionRevealedArgs
from services.common.node import Node, connect
from services.common.process import Stopped, stop_event, wait
from services.common.scoring import Verdict, score_agent
from services.common.settings import Settings
from services.common.spec import SpecError, TaskSpec, parse_spec
from services.common.streams import TRANSIENT, consume
from services.evaluator.pool import Job, ScoreFn, ScoringPool

__all__ = ["EVAL_MARGIN", "Evaluator", "Pending", "ScoreFn", "build", "revealed_solutions", "run"]

log = get_logger("edgemarket.evaluator")

# Seconds before the evaluation window closes at which we stop scoring and attesting: an
# attestation must be mined before the deadline, and a block takes a few seconds.
EVAL_MARGIN = 4.0


def revealed_solutions(
    market: chain.Marketplace, task_id: int, from_block: int
) -> list[chain.LoggedEvent]:
    """The task's SolutionRevealed logs, read from the chain (topic-filtered)."""
    topic = market.events.topics["SolutionRevealed"]
    logs = market.w3.eth.get_logs(
        {
            "address": market.address,
            "fromBlock": from_block,
            "toBlock": "latest",
            "topics": ["0x" + topic.hex(), "0x" + task_id.to_bytes(32, "big").hex()],
        }
    )
    out = []
    for log_ in logs:
        decoded = market.events.decode_log(dict(log_))
        if decoded is not None and isinstance(decoded.event, chain.SolutionRevealed):
            out.append(decoded)
    return out


@dataclass(frozen=True)
class Pending:
    """A revealed solution this evaluator has not attested yet."""

    solution_id: int
    agent: bytes
    claimed_score: int

    @property
    def rank(self) -> tuple[int, int, int]:
        """Best claim first: the contract's order applied to the claimed score."""
        return chain.rank_key(self.claimed_score, len(self.agent), self.solution_id)


class Evaluator:
    """Re-scores every revealed solution of the tasks that name this account as an evaluator:
    best claim first, in a small process pool, attesting in batches as scores come in, so
    slow or hostile agents cost workers and never stall the honest ones' attestations."""

    def __init__(
        self,
        node: Node,
        content: ContentStore,
        *,
        confirmations: int = 0,
        score: ScoreFn = score_agent,
        stop: threading.Event | None = None,
        workers: int = 0,
        margin: float = EVAL_MARGIN,
    ) -> None:
        self.node = node
        self.stop = stop or threading.Event()
        self.market = node.market
        self.content = content
        self.confirmations = confirmations
        self.score = score
        self.pool = ScoringPool(workers)
        self.margin = margin
        self.me = node.address
        self._specs: dict[bytes, TaskSpec | str] = {}

    def close(self) -> None:
        self.pool.close()

    # ---------------------------------------------------------------- handlers

    def on_seed_set(self, message: Message) -> None:
        args: SeedSetArgs = message.typed_args()
        if not self._confirmed(message):
            return
        self.attest_task(args.task_id)

    def on_solution_revealed(self, message: Message) -> None:
        args: SolutionRevealedArgs = message.typed_args()
        if not self._confirmed(message):
            return
        # Reveals close before the seed can be sealed, so this matters only for a replay after
        # the seal: seed.set reads every reveal from the chain.
        if self.market.get_task(args.task_id).seed_sealed:
            self.attest_task(args.task_id)

    def on_task_finalized(self, message: Message) -> None:
        """Fees are credited at finalize: take them home (the chain says if there are any)."""
        if self.market.credits(self.me) == 0:
            return
        try:
            tx = self.market.withdraw()
        except chain.NothingToWithdraw:
            return
        amount = tx.event(chain.Withdrawn).amount
        log.info("fees withdrawn", extra={"evaluator": self.me, "amount_wei": amount})

    # ---------------------------------------------------------------- work

    def _confirmed(self, message: Message) -> bool:
        """Wait for the configured confirmations; False if the message's block was reorged away.
        A stop during the wait raises `Stopped`: the message stays pending for the restart."""
        if self.confirmations > 0:
            while self.node.block_number() < message.block_number + self.confirmations:
                if wait(self.stop, 0.5):
                    raise Stopped
        block = self.node.w3.eth.get_block(message.block_number)
        if "0x" + bytes(block["hash"]).hex() != message.block_hash:
            log.info(
                "message's block is no longer canonical; skipped",
                extra={"block": message.block_number},
            )
            return False
        return True

    def _mine(self, task: chain.TaskInfo) -> bool:
        return self.me.lower() in {e.lower() for e in task.evaluators}

    def spec_of(self, task: chain.TaskInfo) -> TaskSpec | str:
        """The task's spec, or the reason it cannot be used (cached per digest)."""
        cached = self._specs.get(task.spec_digest)
        if cached is not None:
            return cached
        cid = cid_of_digest(task.spec_digest)
        try:
            spec: TaskSpec | str = parse_spec(self.content.get(cid), cid=cid)
        except SpecError as exc:
            spec = f"the task's spec is invalid: {exc}"
        self._specs[task.spec_digest] = spec
        return spec

    def pending(self, task_id: int) -> list[Pending]:
        """The task's revealed solutions not attested by us, best claim first. The chain, not
        our memory, says what we attested: replays and restarts never attest twice."""
        found: list[Pending] = []
        for logged in revealed_solutions(self.market, task_id, self.node.deployment.block_number):
            ev = logged.event
            assert isinstance(ev, chain.SolutionRevealed)
            if chain.agent_digest(ev.agent) != ev.agent_digest:
                log.error(
                    "agent bytes do not match the revealed digest; not attesting",
                    extra={"task_id": task_id, "solution_id": ev.solution_id},
                )
                continue
            found.append(Pending(ev.solution_id, ev.agent, ev.claimed_score))
        if not found:
            return []
        attested = self.market.views(
            [("hasAttested", (task_id, p.solution_id, self.me)) for p in found]
        )
        return sorted(
            (p for p, (done,) in zip(found, attested, strict=True) if not done),
            key=lambda p: p.rank,
        )

    def attest_task(self, task_id: int) -> int:
        """Score and attest every revealed solution of the task we have not attested yet;
        returns how many attestations we sent. Work not done when the evaluation window
        closes is dropped (those solvers reclaim their bonds after finalize)."""
        task = self.market.get_task(task_id)
        if (
            not self._mine(task)
            or not task.seed_sealed
            or task.state != chain.OnChainTaskState.OPEN
        ):
            return 0
        left = task.eval_deadline - self.node.chain_now() - self.margin
        if left <= 0:
            log.warning("evaluation window closed; not attesting", extra={"task_id": task_id})
            return 0
        spec = self.spec_of(task)
        if isinstance(spec, str):
            # Our tools refuse such a task at intake: it was created around them. Attesting
            # nothing leaves every solver's bond reclaimable after finalize.
            log.error("not evaluating the task", extra={"task_id": task_id, "reason": spec})
            return 0
        todo = self.pending(task_id)
        if not todo:
            return 0
        claims = {p.solution_id: p.claimed_score for p in todo}
        sent = 0
        scored: set[int] = set()
        results = self.pool.score(
            self.score,
            spec,
            task.eval_seed,
            [Job(p.solution_id, p.agent) for p in todo],
            until=time.monotonic() + left,
            stop=self.stop,
        )
        try:
            for batch in results:
                scored.update(sid for sid, _ in batch)
                for sid, verdict in batch:
                    self._log_verdict(task_id, sid, verdict, claims[sid])
                n = self._attest(task_id, batch)
                if n < 0:
                    return sent  # the window closed or the task was finalized: nothing more
                sent += n
        finally:
            results.close()  # kills what is still running
        if self.stop.is_set():
            raise Stopped
        missed = [p.solution_id for p in todo if p.solution_id not in scored]
        if missed:
            log.warning(
                "evaluation window closing: solutions left unscored, not attested",
                extra={"task_id": task_id, "solution_ids": missed},
            )
        return sent

    def _log_verdict(self, task_id: int, solution_id: int, verdict: Verdict, claim: int) -> None:
        fields: JsonObject = {
            "task_id": task_id,
            "solution_id": solution_id,
            "score": verdict.score,
            "claimed_score": claim,
        }
        if verdict.out_of_fuel:
            fields["reason"] = verdict.reason
            log.warning("agent ran out of fuel; attesting 0", extra=fields)
        elif verdict.reason:
            fields["reason"] = verdict.reason
            log.warning("agent scored 0", extra=fields)

    def _attest(self, task_id: int, scored: list[tuple[int, Verdict]]) -> int:
        """attestScores in chunks of MAX_ATTEST_BATCH (attestScore for one); how many were
        sent, or -1 when the task no longer takes attestations."""
        sent = 0
        for k in range(0, len(scored), chain.MAX_ATTEST_BATCH):
            chunk = scored[k : k + chain.MAX_ATTEST_BATCH]
            ids = [sid for sid, _ in chunk]
            scores = [v.score for _, v in chunk]
            try:
                if len(chunk) == 1:
                    self.market.attest_score(task_id, ids[0], scores[0])
                else:
                    self.market.attest_scores(task_id, ids, scores)
            except chain.AlreadyAttested:
                # Another process with our key got there first (a restart racing its old
                # self): the batch is all or nothing, so send what is left of it.
                done = self.market.views([("hasAttested", (task_id, i, self.me)) for i in ids])
                rest = [(i, v) for (i, v), (was,) in zip(chunk, done, strict=True) if not was]
                if rest and len(rest) < len(chunk):
                    n = self._attest(task_id, rest)
                    if n < 0:
                        return n
                    sent += n
                continue
            except (chain.EvaluationClosed, chain.TaskNotOpen) as exc:
                log.warning(
                    "task no longer takes attestations; stopping",
                    extra={"task_id": task_id, "solution_ids": ids, "error": exc.name},
                )
                return -1
            sent += len(chunk)
            log.info(
                "attested",
                extra={"task_id": task_id, "solution_ids": ids, "scores": scores},
            )
        return sent


def build(settings: Settings, score: ScoreFn = score_agent) -> Evaluator:
    return Evaluator(
        connect(settings, signed=True),
        open_content_store(settings),
        confirmations=settings.confirmations,
        score=score,
        workers=settings.evaluator_workers,
    )


def run(
    settings: Settings | None = None,
    *,
    stop: threading.Event | None = None,
    score: ScoreFn = score_agent,
) -> None:
    """`edgemarket run evaluator`: one consumer group per evaluator account."""
    settings = settings or Settings()
    configure_logging(settings.log_level)
    stop = stop_event(stop)
    evaluator = build(settings, score)
    evaluator.stop = stop
    evaluator.pool.warm(score)
    log.info("evaluator up", extra={"evaluator": evaluator.me})
    handlers: dict[Kind, Callable[[Message], None]] = {
        Kind.SEED_SET: evaluator.on_seed_set,
        Kind.SOLUTION_REVEALED: evaluator.on_solution_revealed,
        Kind.TASK_FINALIZED: evaluator.on_task_finalized,
    }
    try:
        consume(
            redis.Redis.from_url(settings.redis_url),
            settings.stream,
            f"evaluator-{evaluator.me.lower()}",
            # Stable across restarts, so a restarted evaluator first re-reads what it left pending.
            socket.gethostname(),
            handlers,
            stop=stop,
            transient=(*TRANSIENT, chain.RpcUnavailableError),
        )
    finally:
        evaluator.close()
