"""The evaluator: seed.set and solution.revealed → the agent from the chain, the spec from IPFS →
an independent re-score in the C core on the chain's evalSeed → attestScore, once."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

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
from services.common.streams import consume

log = get_logger("edgemarket.evaluator")

ScoreFn = Callable[[bytes, TaskSpec, bytes], Verdict]


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


class Evaluator:
    """Re-scores every revealed solution of the tasks that name this account as an evaluator."""

    def __init__(
        self,
        node: Node,
        content: ContentStore,
        *,
        confirmations: int = 0,
        score: ScoreFn = score_agent,
        stop: threading.Event | None = None,
    ) -> None:
        self.node = node
        self.stop = stop or threading.Event()
        self.market = node.market
        self.content = content
        self.confirmations = confirmations
        self.score = score
        self.me = node.address
        self._specs: dict[bytes, TaskSpec | str] = {}

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
        task = self.market.get_task(args.task_id)
        if not task.seed_sealed:
            return  # scored when the seed is set (seed.set reads every reveal from the chain)
        digest = bytes.fromhex(args.agent_digest[2:])
        self.attest_one(args.task_id, task, args.solution_id, args.agent_bytes(), digest)

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

    def attest_task(self, task_id: int) -> int:
        """Attest every revealed solution of the task not yet attested by us; how many we sent."""
        task = self.market.get_task(task_id)
        if (
            not self._mine(task)
            or not task.seed_sealed
            or task.state != chain.OnChainTaskState.OPEN
        ):
            return 0
        sent = 0
        for logged in revealed_solutions(self.market, task_id, self.node.deployment.block_number):
            ev = logged.event
            assert isinstance(ev, chain.SolutionRevealed)
            sent += self.attest_one(task_id, task, ev.solution_id, ev.agent, ev.agent_digest)
        return sent

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

    def attest_one(
        self, task_id: int, task: chain.TaskInfo, solution_id: int, agent: bytes, digest: bytes
    ) -> int:
        if not self._mine(task) or task.state != chain.OnChainTaskState.OPEN:
            return 0
        # The chain, not our memory, says whether we already attested: replays and restarts
        # after a crash around the transaction never attest twice.
        if self.market.has_attested(task_id, solution_id, self.me):
            return 0
        if self.node.chain_now() >= task.eval_deadline:
            log.warning(
                "evaluation window closed; not attesting",
                extra={"task_id": task_id, "solution_id": solution_id},
            )
            return 0
        on_chain = self.market.get_solution(task_id, solution_id)
        if chain.agent_digest(agent) != digest or digest != on_chain.agent_digest:
            log.error(
                "agent bytes do not match the revealed digest; not attesting",
                extra={"task_id": task_id, "solution_id": solution_id},
            )
            return 0
        spec = self.spec_of(task)
        if isinstance(spec, str):
            verdict = Verdict(0, spec)
        else:
            verdict = self.score(agent, spec, task.eval_seed)
        fields: JsonObject = {
            "task_id": task_id,
            "solution_id": solution_id,
            "score": verdict.score,
            "claimed_score": on_chain.claimed_score,
        }
        if verdict.reason:
            fields["reason"] = verdict.reason
            log.warning("agent scored 0", extra=fields)
        try:
            self.market.attest_score(task_id, solution_id, verdict.score)
        except chain.AlreadyAttested:
            return 0
        except chain.EvaluationClosed:
            log.warning("evaluation window closed; not attested", extra=fields)
            return 0
        log.info("attested", extra=fields)
        return 1


def build(settings: Settings, score: ScoreFn = score_agent) -> Evaluator:
    return Evaluator(
        connect(settings, signed=True),
        open_content_store(settings),
        confirmations=settings.confirmations,
        score=score,
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
    log.info("evaluator up", extra={"evaluator": evaluator.me})
    handlers: dict[Kind, Callable[[Message], None]] = {
        Kind.SEED_SET: evaluator.on_seed_set,
        Kind.SOLUTION_REVEALED: evaluator.on_solution_revealed,
        Kind.TASK_FINALIZED: evaluator.on_task_finalized,
    }
    consume(
        redis.Redis.from_url(settings.redis_url),
        settings.stream,
        f"evaluator-{evaluator.me.lower()}",
        # Stable across restarts, so a restarted evaluator first re-reads what it left pending.
        socket.gethostname(),
        handlers,
        stop=stop,
    )
