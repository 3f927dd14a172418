"""Stateful property test: random marketplace histories never lose or mint ether.

A model of the contract predicts every call's outcome (the exact custom error, or success and
who is credited what); after every step the contract's accounting must equal ether in minus
ether out, its balance must cover it, and every account's credit must equal the model's.
Time moves in whole epochs of 1000 s and every deadline sits on an epoch boundary, so the
seconds anvil's clock drifts within a sequence never change an outcome.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from services.common import chain as c
from services.common.chain import Marketplace, TxResult
from tests.fixtures.chain import Chain

EPOCH = 1000
OUTCOMES: Counter[str] = Counter()  # what the sequences reached, for the report below
FEES = (0, 7, 10**15)
BONDS = (0, 3, 10**16)
BOUNTIES = (0, 1, 10**18, 10**18)
SCORES = (0, 400_000, 900_000)
# Mostly "do what the phase calls for", sometimes anything at all.
KINDS = ("auto",) * 16 + ("wait",) * 2 + (
    "create", "commit", "reveal", "request", "seal", "attest", "batch", "finalize", "cancel", "withdraw",
    "force", "reclaim",
)  # fmt: skip
AGENTS = (b"", b"\x01", b"\x02" * 40, b"\x03" * 40)


@dataclass
class MSolution:
    solver: str
    agent: bytes
    claim: int
    salt: bytes
    revealed: bool = False
    verified: bool = False
    attested: dict[str, int] = field(default_factory=dict)


@dataclass
class MTask:
    task_id: int
    creator: str
    bounty: int
    fee: int
    bond: int
    evaluators: list[str]
    quorum: int
    min_score: int
    commit_end: int  # epochs
    reveal_end: int
    eval_end: int
    state: str = "open"
    solutions: list[MSolution] = field(default_factory=list)
    commits: Counter[str] = field(default_factory=Counter)
    attest_count: Counter[str] = field(default_factory=Counter)
    seed_block: int = 0
    sealed: bool = False
    best: tuple[int, int, int] | None = None  # (score, -size, -id): max wins; score >= 1
    reclaimed: set[str] = field(default_factory=set)  # solvers whose bonds reclaimBonds paid

    def unverified(self, solver: str) -> int:
        """Bonds held for `solver`'s revealed, never-verified solutions, until reclaimed."""
        if solver in self.reclaimed:
            return 0
        return sum(
            self.bond
            for s in self.solutions
            if s.solver == solver and s.revealed and not s.verified
        )

    @property
    def escrow(self) -> int:
        if self.state == "cancelled":
            return 0
        held = sum(self.unverified(who) for who in {s.solver for s in self.solutions})
        if self.state != "open":
            return held
        held += sum(self.bond for s in self.solutions if not s.revealed)
        return self.bounty + self.fee * len(self.evaluators) + held


def make_machine(chain: Chain, marketplace: Marketplace) -> type[RuleBasedStateMachine]:
    creators = [a.address for a in chain.accounts[1:3]]
    solvers = [a.address for a in chain.accounts[3:6]]
    evaluators = [a.address for a in chain.accounts[10:14]]
    everyone = creators + solvers + evaluators
    contract = marketplace.address

    def as_(who: str) -> Marketplace:
        # Node-managed signers (anvil --auto-impersonate): the signing path is tested elsewhere.
        return marketplace.with_signer(who)

    class MarketMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.snapshot = chain.snapshot()
            self.t0 = chain.now()
            self.k = 0
            self.tasks: list[MTask] = []
            self.credits: defaultdict[str, int] = defaultdict(int)
            self.owed_start = marketplace.total_owed()
            self.balance_start = chain.balance(contract)
            self.ether_in = 0
            self.ether_out = 0
            self.forced = 0

        def teardown(self) -> None:
            chain.revert(self.snapshot)

        # -- helpers

        def at(self, epoch: int) -> int:
            return self.t0 + EPOCH * epoch

        def expect(self, error: type[c.ContractError] | None, call: object) -> TxResult | None:
            """Run `call`; it must raise exactly `error`, or succeed when error is None."""
            assert callable(call)
            if error is None:
                result = call()
                assert isinstance(result, TxResult)
                OUTCOMES[type(result.events[0]).__name__ if result.events else "?"] += 1
                return result
            with pytest.raises(c.ContractError) as info:
                call()
            assert type(info.value) is error, f"expected {error.__name__}, got {info.value}"
            OUTCOMES[error.__name__] += 1
            return None

        def task(self, index: int) -> MTask:
            return self.tasks[index % len(self.tasks)]

        def open_error(self, t: MTask) -> type[c.ContractError] | None:
            return None if t.state == "open" else c.TaskNotOpen

        # -- rules

        @initialize(
            creator=st.sampled_from(creators), n=st.integers(1, 3), fee=st.sampled_from(FEES)
        )
        def first_task(self, creator: str, n: int, fee: int) -> None:
            self.create(creator, n, 0, 10**18, fee, 10**16, (1, 1, 1), 0, 0)

        def create_from(self, data: st.DataObject) -> None:
            self.create(
                data.draw(st.sampled_from(creators)),
                data.draw(st.integers(1, 3)),
                data.draw(st.sampled_from((0, 0, 0, 0, 1, -1))),
                data.draw(st.sampled_from(BOUNTIES)),
                data.draw(st.sampled_from(FEES)),
                data.draw(st.sampled_from(BONDS)),
                data.draw(st.tuples(st.integers(1, 2), st.integers(1, 2), st.integers(1, 2))),
                data.draw(st.sampled_from((0, 500_000))),
                data.draw(st.integers(0, 3)),
            )

        def create(
            self,
            creator: str,
            n: int,
            quorum_offset: int,
            bounty: int,
            fee: int,
            bond: int,
            phases: tuple[int, int, int],
            min_score: int,
            first: int,
        ) -> None:
            evs = [evaluators[(first + i) % len(evaluators)] for i in range(n)]
            quorum = n // 2 + 1 + quorum_offset
            commit_end = self.k + phases[0]
            reveal_end = commit_end + phases[1]
            error: type[c.ContractError] | None = None
            if quorum > n or 2 * quorum <= n:
                error = c.QuorumNotMajority
            elif bounty == 0:
                error = c.ZeroBounty
            result = self.expect(
                error,
                lambda: as_(creator).create_task(
                    spec_digest=b"\x42" * 32,
                    commit_deadline=self.at(commit_end),
                    reveal_deadline=self.at(reveal_end),
                    eval_window=EPOCH * phases[2],
                    evaluators=evs,
                    quorum=quorum,
                    min_score=min_score,
                    commit_bond=bond,
                    evaluator_fee=fee,
                    bounty=bounty,
                ),
            )
            if result is None:
                return
            task_id = result.event(c.TaskCreated).task_id
            self.tasks.append(
                MTask(
                    task_id,
                    creator,
                    bounty,
                    fee,
                    bond,
                    evs,
                    quorum,
                    min_score,
                    commit_end,
                    reveal_end,
                    reveal_end + phases[2],
                )
            )
            self.ether_in += bounty + fee * n

        @rule(
            index=st.integers(0, 99),
            kind=st.sampled_from(KINDS),
            solver=st.sampled_from(solvers),
            agent=st.sampled_from(AGENTS),
            claim=st.sampled_from(SCORES),
            salt=st.binary(min_size=32, max_size=32),
            sid=st.integers(0, 20),
            ev=st.integers(0, 3),
            score=st.sampled_from((*SCORES, None, None, None)),
            who=st.sampled_from(everyone),
            mistake=st.sampled_from(("none",) * 8 + ("bond", "claim", "sender", "wait")),
            amount=st.integers(1, 10**18),
            data=st.data(),
        )
        def act(
            self,
            index: int,
            kind: str,
            solver: str,
            agent: bytes,
            claim: int,
            salt: bytes,
            sid: int,
            ev: int,
            score: int | None,
            who: str,
            mistake: str,
            amount: int,
            data: st.DataObject,
        ) -> None:
            """What a participant would do next on a task in its current phase, or (with `kind`
            named) any action, in phase or not. One rule, so that hypothesis spends its steps
            on actions rather than on choosing among rules."""
            if kind == "create" and len(self.tasks) < 4:
                self.create_from(data)
                return
            live = [t for t in self.tasks if t.state == "open"]
            t = (live or self.tasks)[index % len(live or self.tasks)]
            if kind == "auto":
                kind = self.next_kind(t) if live else ("withdraw", "reclaim")[index % 2]
            elif kind != "wait":
                t = self.task(index)
            if kind == "commit":
                self.commit(t, solver, agent, claim, salt, mistake == "bond")
            elif kind == "reveal":
                self.reveal(t, sid, honest=mistake != "claim", own=mistake != "sender")
            elif kind == "request":
                self.request_seed(t, who)
            elif kind == "seal":
                self.seal_seed(t, who, wait=mistake != "wait")
            elif kind == "attest":
                self.attest(t, sid, ev, score, stray=mistake != "none")
            elif kind == "batch":
                self.attest_batch(t, ev, stray=mistake != "none")
            elif kind == "reclaim":
                self.reclaim(t, solver if mistake != "none" else None, who)
            elif kind == "finalize":
                self.finalize(t, who)
            elif kind == "cancel":
                self.cancel(t, by_creator=mistake == "none" and index % 3 == 0)
            elif kind == "withdraw":
                self.withdraw(index, stray=mistake != "none")
            elif kind == "force":
                self.force_ether(amount)
            else:
                self.next_epoch()

        def next_kind(self, t: MTask) -> str:
            if self.k < t.commit_end:
                return "commit" if len(t.solutions) < 2 else "wait"
            if self.k < t.reveal_end:
                return "reveal" if any(not x.revealed for x in t.solutions) else "wait"
            if not t.seed_block:
                return "request"
            if not t.sealed:
                return "seal"
            if self.k < t.eval_end:
                pending = any(
                    e not in x.attested for x in t.solutions if x.revealed for e in t.evaluators
                )
                return ("attest", "batch")[t.task_id % 2] if pending else "wait"
            return "finalize"

        def commit(
            self, t: MTask, solver: str, agent: bytes, claim: int, salt: bytes, wrong_bond: bool
        ) -> None:
            value = t.bond + 1 if wrong_bond else t.bond
            error = self.open_error(t)
            if error is None and self.k >= t.commit_end:
                error = c.CommitPhaseOver
            if error is None and value != t.bond:
                error = c.WrongBond
            if error is None and t.commits[solver] >= c.MAX_COMMITS_PER_SOLVER:
                error = c.TooManyCommits
            m = as_(solver)
            digest = m.commitment_for(t.task_id, agent, claim, salt)
            result = self.expect(error, lambda: m.commit_solution(t.task_id, digest, bond=value))
            if result is None:
                return
            assert result.event(c.SolutionCommitted).solution_id == len(t.solutions)
            t.solutions.append(MSolution(solver, agent, claim, salt))
            t.commits[solver] += 1
            self.ether_in += value

        def reveal(self, t: MTask, sid: int, *, honest: bool, own: bool) -> None:
            if not t.solutions:
                return
            hidden = [i for i, x in enumerate(t.solutions) if not x.revealed]
            sid = hidden[sid % len(hidden)] if hidden else sid % len(t.solutions)
            s = t.solutions[sid]
            sender = s.solver if own else next(x for x in solvers if x != s.solver)
            claim = s.claim if honest else (s.claim + 1) % 1_000_000
            error = self.open_error(t)
            if error is None and not t.commit_end <= self.k < t.reveal_end:
                error = c.NotRevealPhase
            if error is None and sender != s.solver:
                error = c.NotSolver
            if error is None and s.revealed:
                error = c.AlreadyRevealed
            if error is None and not honest:
                error = c.CommitmentMismatch
            result = self.expect(
                error, lambda: as_(sender).reveal_solution(t.task_id, sid, s.agent, claim, s.salt)
            )
            if result is None:
                return
            s.revealed = True  # v2: the bond stays held until verified or finalized

        def request_seed(self, t: MTask, who: str) -> None:
            next_block = chain.block_number() + 1
            error = self.open_error(t)
            if error is None and self.k < t.reveal_end:
                error = c.RevealNotOver
            if error is None and t.sealed:
                error = c.SeedAlreadySealed
            if error is None and t.seed_block != 0 and next_block <= t.seed_block + 256:
                error = c.SeedAlreadyRequested
            result = self.expect(error, lambda: as_(who).request_seed(t.task_id))
            if result is not None:
                t.seed_block = result.event(c.SeedRequested).seed_block
                assert t.seed_block == next_block + 1

        def seal_seed(self, t: MTask, who: str, *, wait: bool) -> None:
            if wait:
                chain.mine(1)  # as the keeper does: let the seed block be mined first
            next_block = chain.block_number() + 1
            error = self.open_error(t)
            if error is None and t.sealed:
                error = c.SeedAlreadySealed
            if error is None and t.seed_block == 0:
                error = c.SeedNotRequested
            if error is None and next_block <= t.seed_block:
                error = c.SeedBlockNotMined
            if error is None and next_block > t.seed_block + 256:
                error = c.SeedBlockExpired
            if self.expect(error, lambda: as_(who).seal_seed(t.task_id)) is not None:
                t.sealed = True

        def attest(self, t: MTask, sid: int, ev: int, score: int | None, *, stray: bool) -> None:
            if not t.solutions:
                return
            pending = [
                (i, e)
                for i, x in enumerate(t.solutions)
                if x.revealed
                for e in t.evaluators
                if e not in x.attested
            ]
            if pending and not stray:
                sid, who = pending[(sid + 7 * ev) % len(pending)]
            else:
                sid, who = sid % len(t.solutions), evaluators[ev]
            s = t.solutions[sid]
            score = s.claim if score is None else score  # honest evaluators mostly agree
            error = self.open_error(t)
            if error is None and not t.sealed:
                error = c.SeedNotSealed
            if error is None and self.k >= t.eval_end:
                error = c.EvaluationClosed
            if error is None and who not in t.evaluators:
                error = c.NotEvaluator
            if error is None and not s.revealed:
                error = c.NotRevealed
            if error is None and who in s.attested:
                error = c.AlreadyAttested
            result = self.expect(error, lambda: as_(who).attest_score(t.task_id, sid, score))
            if result is None:
                return
            verified = [e for e in result.events if isinstance(e, c.SolutionVerified)]
            assert [(v.solution_id, v.score, v.best) for v in verified] == self.record(
                t, sid, who, score
            )

        def record(self, t: MTask, sid: int, who: str, score: int) -> list[tuple[int, int, bool]]:
            """Apply one successful attestation to the model; the SolutionVerified it implies."""
            s = t.solutions[sid]
            s.attested[who] = score
            t.attest_count[who] += 1
            agreeing = [e for e in t.evaluators if s.attested.get(e) == score]
            if len(agreeing) != t.quorum:
                return []
            s.verified = True
            rank = (score, -len(s.agent), -sid)
            best = score > 0 and (t.best is None or rank > t.best)
            OUTCOMES["SolutionVerified"] += 1
            if best:
                t.best = rank
            if score > 0:
                self.credits[s.solver] += t.bond
            else:
                # Forfeited to the quorum that agreed; the remainder to the one reaching it.
                OUTCOMES["bond forfeited"] += 1
                share = t.bond // t.quorum
                for e in agreeing:
                    self.credits[e] += share
                self.credits[who] += t.bond - share * t.quorum
            return [(sid, score, best)]

        def attest_batch(self, t: MTask, ev: int, *, stray: bool) -> None:
            """attestScores with every solution this evaluator has not attested (honest scores),
            or with a stray one (an evaluator of another task, or a repeated entry)."""
            who = t.evaluators[ev % len(t.evaluators)]
            ids = [i for i, x in enumerate(t.solutions) if x.revealed and who not in x.attested]
            if stray or not ids:
                who = evaluators[ev]
                ids = [ev % len(t.solutions)] * 2 if t.solutions else []
            scores = [t.solutions[i].claim for i in ids]
            error: type[c.ContractError] | None = None if ids else c.BadBatchSize
            if error is None:
                error = self.open_error(t)
            if error is None and not t.sealed:
                error = c.SeedNotSealed
            if error is None and self.k >= t.eval_end:
                error = c.EvaluationClosed
            if error is None and who not in t.evaluators:
                error = c.NotEvaluator
            seen: set[int] = set()
            for i in ids:
                if error is not None:
                    break
                if not t.solutions[i].revealed:
                    error = c.NotRevealed
                elif who in t.solutions[i].attested or i in seen:
                    error = c.AlreadyAttested
                seen.add(i)
            result = self.expect(error, lambda: as_(who).attest_scores(t.task_id, ids, scores))
            if result is None:
                return
            expected = [
                v for i, sc in zip(ids, scores, strict=True) for v in self.record(t, i, who, sc)
            ]
            verified = [e for e in result.events if isinstance(e, c.SolutionVerified)]
            assert [(v.solution_id, v.score, v.best) for v in verified] == expected
            OUTCOMES["attestScores"] += 1

        def reclaim(self, t: MTask, solver: str | None, who: str) -> None:
            if solver is None:  # the solver with the most held, as a keeper would pick
                solver = max(solvers, key=t.unverified)
            error: type[c.ContractError] | None = None
            if t.state != "finalized":
                error = c.TaskNotFinalized
            elif t.unverified(solver) == 0:
                error = c.NoBondsHeld
            result = self.expect(error, lambda: as_(who).reclaim_bonds(t.task_id, solver))
            if result is None:
                return
            assert result.event(c.BondReturned).amount == t.unverified(solver)
            self.credits[solver] += t.unverified(solver)
            t.reclaimed.add(solver)
            OUTCOMES["bonds reclaimed"] += 1

        def finalize(self, t: MTask, who: str) -> None:
            error = self.open_error(t)
            if error is None and self.k < t.eval_end:
                error = c.TooEarlyToFinalize
            result = self.expect(error, lambda: as_(who).finalize(t.task_id))
            if result is None:
                return
            to_creator = sum(t.bond for s in t.solutions if not s.revealed)
            revealed = sum(1 for s in t.solutions if s.revealed)
            for e in t.evaluators:
                if t.attest_count[e] == revealed:
                    self.credits[e] += t.fee
                else:
                    to_creator += t.fee
            fin = result.event(c.TaskFinalized)
            if t.best is not None and t.best[0] >= t.min_score:
                winner_id = -t.best[2]
                self.credits[t.solutions[winner_id].solver] += t.bounty
                OUTCOMES["finalized with a winner"] += 1
                assert (fin.winner, fin.solution_id, fin.score) == (
                    t.solutions[winner_id].solver,
                    winner_id,
                    t.best[0],
                )
            else:
                to_creator += t.bounty
                assert fin.solution_id == c.NO_SOLUTION
            self.credits[t.creator] += to_creator
            t.state = "finalized"

        def cancel(self, t: MTask, *, by_creator: bool) -> None:
            who = t.creator if by_creator else next(x for x in creators if x != t.creator)
            error = self.open_error(t)
            if error is None and who != t.creator:
                error = c.NotCreator
            if error is None and t.solutions:
                error = c.HasCommits
            if self.expect(error, lambda: as_(who).cancel_task(t.task_id)) is not None:
                self.credits[t.creator] += t.bounty + t.fee * len(t.evaluators)
                t.state = "cancelled"

        def withdraw(self, index: int, *, stray: bool) -> None:
            owed_to = [who for who in everyone if self.credits[who]]
            pool = everyone if stray or not owed_to else owed_to
            who = pool[index % len(pool)]
            owed = self.credits[who]
            before = chain.balance(who)
            result = self.expect(None if owed else c.NothingToWithdraw, lambda: as_(who).withdraw())
            if result is None:
                return
            # The account receives exactly what it was credited, no more.
            assert result.event(c.Withdrawn).amount == owed
            assert chain.balance(who) - before + result.fee == owed
            self.credits[who] = 0
            self.ether_out += owed

        def next_epoch(self) -> None:
            self.k += 1
            chain.rpc("evm_setNextBlockTimestamp", [self.at(self.k)])
            chain.rpc("evm_mine", [])

        def force_ether(self, amount: int) -> None:
            # As selfdestruct or a coinbase reward would: ether arrives without a call.
            chain.rpc("anvil_setBalance", [contract, hex(chain.balance(contract) + amount)])
            self.forced += amount

        # -- invariants

        @invariant()
        def accounting_matches_the_model(self) -> None:
            # One batch of views against one block, so the figures are consistent.
            calls: list[tuple[str, tuple[object, ...]]] = [("totalOwed", ())]
            calls += [("credits", (who,)) for who in everyone]
            calls += [("escrowOf", (t.task_id,)) for t in self.tasks]
            values = [v[0] for v in marketplace.views(calls)]
            owed, credits, escrows = (
                values[0],
                values[1 : 1 + len(everyone)],
                values[1 + len(everyone) :],
            )
            assert owed == self.owed_start + self.ether_in - self.ether_out
            balance = chain.balance(contract)
            assert balance >= owed
            assert balance == self.balance_start + self.ether_in - self.ether_out + self.forced
            assert credits == [self.credits[who] for who in everyone]
            assert escrows == [t.escrow for t in self.tasks]
            assert sum(credits) + sum(escrows) == owed - self.owed_start

    return MarketMachine


def _run(chain: Chain, marketplace: Marketplace, examples: int, steps: int) -> None:
    run_state_machine_as_test(
        make_machine(chain, marketplace),
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


def test_accounting_holds_over_random_histories(chain: Chain, marketplace: Marketplace) -> None:
    before = OUTCOMES.copy()
    _run(chain, marketplace, examples=200, steps=24)
    reached = OUTCOMES - before
    print("\ncontract property outcomes:", dict(sorted(reached.items())))  # noqa: T201  (the run's coverage report, seen with -s)
    # The histories must go deep enough to exercise payouts, not only early reverts.
    for outcome in (
        "SolutionRevealed",
        "SolutionVerified",
        "finalized with a winner",
        "Withdrawn",
        "attestScores",
        "bond forfeited",
        "bonds reclaimed",
    ):
        assert reached[outcome] > 0, f"no sequence reached {outcome}: {dict(reached)}"


@pytest.mark.soak
@pytest.mark.timeout(3 * 3600)
def test_accounting_holds_over_long_random_histories(
    chain: Chain, marketplace: Marketplace, request: pytest.FixtureRequest
) -> None:
    before = OUTCOMES.copy()
    _run(chain, marketplace, examples=1000, steps=50)
    print("\ncontract soak outcomes:", dict(sorted((OUTCOMES - before).items())))  # noqa: T201  (the run's coverage report, seen with -s)
