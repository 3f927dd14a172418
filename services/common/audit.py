"""The auditor: re-verify a task from the chain (RPC) and the content store alone: re-derive the
evaluation seed from the seed block's hash and the revealed salts, re-score every revealed
agent, and compare with the attestations, the verifications and the payout."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eth_abi.abi import decode as abi_decode
from hexbytes import HexBytes

from services.common import chain
from services.common.content import ContentError, ContentStore, cid_of_digest
from services.common.spec import SpecError, parse_spec


@dataclass
class SolutionAudit:
    solution_id: int
    solver: str
    agent_size: int
    claimed_score: int
    recomputed: int | None  # None when it could not be scored (no spec, no seed)
    reason: str  # why a forced 0
    attestations: dict[str, int]  # evaluator → score it attested
    verified_score: int | None  # the contract's verified score, if verified

    @property
    def liars(self) -> list[str]:
        if self.recomputed is None:
            return []
        return sorted(e for e, s in self.attestations.items() if s != self.recomputed)


@dataclass
class AuditReport:
    task_id: int
    state: str
    spec_cid: str
    seed_block: int
    eval_seed_on_chain: bytes
    eval_seed_recomputed: bytes | None
    solutions: list[SolutionAudit]
    expected_winner: tuple[str, int, int] | None  # by the contract's verified scores
    honest_winner: tuple[str, int, int] | None  # by the recomputed scores
    finalized: tuple[str, int, int, int] | None  # (winner, solution id, score, payout)
    bounty: int
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def liars(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for s in self.solutions:
            for e in s.liars:
                out.setdefault(e, []).append(s.solution_id)
        return out

    @property
    def ok(self) -> bool:
        return not self.problems


def _task_logs(market: chain.Marketplace, task_id: int, from_block: int) -> list[chain.LoggedEvent]:
    """Every event of the task (all carry the task id as their first indexed topic)."""
    logs = market.w3.eth.get_logs(
        {
            "address": market.address,
            "fromBlock": from_block,
            "toBlock": "latest",
            "topics": [None, "0x" + task_id.to_bytes(32, "big").hex()],
        }
    )
    out = []
    for raw in logs:
        decoded = market.events.decode_log(dict(raw))
        if decoded is not None:
            out.append(decoded)
    return out


def _salt_of_reveal(market: chain.Marketplace, tx_hash: bytes) -> bytes | None:
    """The salt argument of a direct revealSolution transaction (None if sent via a contract)."""
    tx: Any = market.w3.eth.get_transaction(HexBytes(tx_hash))  # Any: web3's TxData is a loose TypedDict
    data = bytes(HexBytes(tx["input"]))
    selector = market.calldata("revealSolution", 0, 0, b"", 0, b"\x00" * 32)[:4]
    if data[:4] != selector:
        return None
    _tid, _sid, _agent, _score, salt = abi_decode(
        ["uint256", "uint256", "bytes", "uint32", "bytes32"], data[4:]
    )
    return bytes(salt)


def _best(
    rows: list[SolutionAudit], score_of: Callable[[SolutionAudit], int | None], min_score: int
) -> tuple[str, int, int] | None:
    """(solver, solution id, score) of the best row by the contract's order: higher score,
    then the smaller agent, then the lower solution id; None below min_score or if unscored."""
    scored = [(score, r) for r in rows if (score := score_of(r)) is not None]
    if not scored:
        return None
    score, row = min(scored, key=lambda p: chain.rank_key(p[0], p[1].agent_size, p[1].solution_id))
    return (row.solver, row.solution_id, score) if score >= min_score else None


def audit_task(
    market: chain.Marketplace, content: ContentStore, task_id: int, *, from_block: int = 0
) -> AuditReport:
    from services.common.scoring import CannotScore, score_agent

    task = market.get_task(task_id)
    spec_cid = cid_of_digest(task.spec_digest)
    events = _task_logs(market, task_id, from_block)
    report = AuditReport(
        task_id=task_id,
        state=task.state.name.lower(),
        spec_cid=spec_cid,
        seed_block=task.seed_block,
        eval_seed_on_chain=task.eval_seed,
        eval_seed_recomputed=None,
        solutions=[],
        expected_winner=None,
        honest_winner=None,
        finalized=None,
        bounty=task.bounty,
    )

    # The evaluation seed, re-derived: blockhash(seedBlock) and the XOR of the revealed salts.
    reveals = [(e, e.event) for e in events if isinstance(e.event, chain.SolutionRevealed)]
    salts: list[bytes] = []
    for logged, _ in reveals:
        salt = _salt_of_reveal(market, logged.tx_hash)
        if salt is None:
            report.notes.append(
                f"reveal tx 0x{logged.tx_hash.hex()} was not a direct call; using the stored salt XOR"
            )
            salts = []
            break
        salts.append(salt)
    salt_xor = chain.xor_salts(salts) if salts or not reveals else task.salt_xor
    if salt_xor != task.salt_xor:
        report.problems.append("the XOR of the revealed salts differs from the contract's saltXor")
    seed: bytes | None = None
    if task.seed_sealed:
        block: Any = market.w3.eth.get_block(task.seed_block)  # Any: web3's BlockData, as above
        seed = chain.evaluation_seed(bytes(block["hash"]), task_id, salt_xor)
        report.eval_seed_recomputed = seed
        if seed != task.eval_seed:
            report.problems.append(
                f"evalSeed on chain 0x{task.eval_seed.hex()} != recomputed 0x{seed.hex()}"
            )
        sealed = [e.event for e in events if isinstance(e.event, chain.EvaluationSeedSet)]
        if sealed and sealed[-1].eval_seed != task.eval_seed:
            report.problems.append("the EvaluationSeedSet event differs from the stored evalSeed")
    elif reveals:
        report.notes.append("the evaluation seed is not sealed yet: nothing to re-score")

    spec = None
    spec_invalid = False
    try:
        spec = parse_spec(content.get(spec_cid), cid=spec_cid)
    except SpecError as exc:
        spec_invalid = True
        report.notes.append(f"the spec is invalid, every agent scores 0: {exc}")
    except ContentError as exc:
        report.problems.append(f"cannot fetch the spec {spec_cid}: {exc}")

    attested: dict[int, dict[str, int]] = {}
    for e in events:
        if isinstance(e.event, chain.ScoreAttested):
            attested.setdefault(e.event.solution_id, {})[e.event.evaluator] = e.event.score
    verified = {
        e.event.solution_id: e.event.score
        for e in events
        if isinstance(e.event, chain.SolutionVerified)
    }

    for _, ev in reveals:
        recomputed: int | None = None
        reason = ""
        if seed is not None:
            if spec_invalid:
                recomputed, reason = 0, "invalid spec"
            elif spec is not None:
                try:
                    verdict = score_agent(ev.agent, spec, seed)
                except CannotScore as exc:
                    report.problems.append(f"solution {ev.solution_id}: cannot score here: {exc}")
                else:
                    recomputed, reason = verdict.score, verdict.reason
        row = SolutionAudit(
            solution_id=ev.solution_id,
            solver=ev.solver,
            agent_size=len(ev.agent),
            claimed_score=ev.claimed_score,
            recomputed=recomputed,
            reason=reason,
            attestations=attested.get(ev.solution_id, {}),
            verified_score=verified.get(ev.solution_id),
        )
        report.solutions.append(row)
        if recomputed is None:
            continue
        for evaluator in row.liars:
            report.problems.append(
                f"evaluator {evaluator} attested {row.attestations[evaluator]} for solution "
                f"{row.solution_id}, which scores {recomputed}"
            )
        agreeing = sum(1 for s in row.attestations.values() if s == recomputed)
        if row.verified_score is not None and row.verified_score != recomputed:
            report.problems.append(
                f"solution {row.solution_id} was verified at {row.verified_score}, but scores {recomputed}"
            )
        if row.verified_score is None and agreeing >= task.quorum:
            report.problems.append(f"solution {row.solution_id} reached quorum but is not verified")

    # The winner the contract should have paid (best verified score), and the one honest
    # evaluators would have made (best recomputed score); both only at or above minScore.
    report.expected_winner = _best(report.solutions, lambda r: r.verified_score, task.min_score)
    report.honest_winner = _best(report.solutions, lambda r: r.recomputed, task.min_score)
    finals = [e.event for e in events if isinstance(e.event, chain.TaskFinalized)]
    if finals:
        f = finals[-1]
        report.finalized = (f.winner, f.solution_id, f.score, f.payout)
        if report.expected_winner is None:
            if int(f.winner, 16) != 0:
                report.problems.append(
                    f"paid {f.winner} although no verified solution reached minScore"
                )
        else:
            solver, sid, score = report.expected_winner
            if (f.winner.lower(), f.solution_id, f.score) != (solver.lower(), sid, score):
                report.problems.append(
                    f"paid solution {f.solution_id} of {f.winner} at {f.score}; expected solution "
                    f"{sid} of {solver} at {score}"
                )
        paid_someone = int(f.winner, 16) != 0
        if paid_someone and report.honest_winner and report.honest_winner[1] != f.solution_id:
            solver, sid, score = report.honest_winner
            if all(r.recomputed is not None for r in report.solutions):
                report.problems.append(
                    f"by the recomputed scores, solution {sid} of {solver} ({score}) should have won"
                )
        if f.payout != task.bounty:
            report.problems.append(f"payout {f.payout} differs from the bounty {task.bounty}")
    elif task.state == chain.OnChainTaskState.OPEN:
        report.notes.append("not finalized yet")
    return report
