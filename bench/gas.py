"""Gas per EdgeMarketplace call on a private anvil: create, commit, reveal (2 KB, 24 KB), seed,
attest, attestScores batches of 1, 8 and 32, the forfeit of a score-0 solution's bond, finalize
with 1 and 500 solutions, reclaimBonds, withdraw.

Gas is deterministic, so there is no peer and nothing to repeat: `ratio_vs` is empty. The full
run adds the 5-evaluator variants of attest and finalize.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from web3 import Web3  # noqa: E402

from services.common import chain as c  # noqa: E402
from services.common.chain import Marketplace, deploy  # noqa: E402
from tests.fixtures.chain import FUNDING, Chain, funded_keys, open_task, send_many, start_anvil  # noqa: E402

SALT = b"\x07" * 32


def lifecycle(
    chain: Chain, mp: Marketplace, n_solutions: int, n_evaluators: int, agent_size: int
) -> dict[str, int]:
    """One task through its whole life; the gas of each kind of call (the last of its kind)."""
    evaluators = [a.address for a in chain.accounts[1 : 1 + n_evaluators]]
    solvers = [a.address for a in chain.accounts[8:40]]
    creator = mp.with_signer(chain.accounts[0].address)
    task = open_task(chain, creator, evaluators=evaluators, commit_in=10_000, reveal_in=20_000)
    figures: dict[str, int] = {}
    plan = [
        (solvers[i // c.MAX_COMMITS_PER_SOLVER], i.to_bytes(4, "big") * (agent_size // 4))
        for i in range(n_solutions)
    ]
    commit_gas = send_many(
        chain,
        mp,
        [
            (
                s,
                "commitSolution",
                (task.task_id, mp.commitment_for(task.task_id, a, 500_000, SALT, solver=s)),
                10**17,
            )
            for s, a in plan
        ],
    )
    figures["commit_first"], figures["commit"] = commit_gas[0], commit_gas[-1]
    chain.travel_to(task.commit_deadline)
    reveal_gas = send_many(
        chain,
        mp,
        [
            (s, "revealSolution", (task.task_id, i, a, 500_000, SALT), 0)
            for i, (s, a) in enumerate(plan)
        ],
    )
    figures["reveal"] = reveal_gas[-1]
    chain.travel_to(task.reveal_deadline)
    figures["request_seed"] = creator.request_seed(task.task_id).gas_used
    chain.mine(1)
    figures["seal_seed"] = creator.seal_seed(task.task_id).gas_used
    quorum = n_evaluators // 2 + 1
    for k, ev in enumerate(evaluators):
        gas = send_many(
            chain,
            mp,
            [(ev, "attestScore", (task.task_id, i, 400_000 + i), 0) for i in range(n_solutions)],
        )
        if k == 0:
            figures["attest"] = gas[-1]
        if k == quorum - 1:
            figures["attest_verify"] = gas[-1]
    chain.travel_to(task.eval_deadline)
    figures["finalize"] = creator.finalize(task.task_id).gas_used
    return figures


BATCHES = (1, 8, 32)


def v2_paths(chain: Chain, mp: Marketplace) -> dict[str, int]:
    """Contract v2's calls, three evaluators and quorum 2: attestScores batches (the gas of the
    second evaluator's, whose entries verify and return bonds), the attestation that verifies a
    score-0 solution and splits its bond, and reclaimBonds for a never-verified one."""
    evaluators = [a.address for a in chain.accounts[1:4]]
    solvers = [a.address for a in chain.accounts[8:40]]
    creator = mp.with_signer(chain.accounts[0].address)
    task = open_task(chain, creator, evaluators=evaluators, commit_in=10_000, reveal_in=20_000)
    n = sum(BATCHES) + 2  # the batches, one junk solution, one that is never verified
    plan = [(solvers[i // c.MAX_COMMITS_PER_SOLVER], i.to_bytes(4, "big") * 16) for i in range(n)]
    send_many(
        chain,
        mp,
        [
            (s, "commitSolution", (task.task_id, mp.commitment_for(task.task_id, a, 1, SALT, solver=s)), 10**17)
            for s, a in plan
        ],
    )  # fmt: skip
    chain.travel_to(task.commit_deadline)
    send_many(
        chain, mp, [(s, "revealSolution", (task.task_id, i, a, 1, SALT), 0) for i, (s, a) in enumerate(plan)]
    )  # fmt: skip
    chain.travel_to(task.reveal_deadline)
    creator.request_seed(task.task_id)
    chain.mine(1)
    creator.seal_seed(task.task_id)
    junk, unverified = n - 2, n - 1
    figures: dict[str, int] = {}
    for k, ev in enumerate(evaluators[:2]):
        calls: list[tuple[str, str, tuple[object, ...], int]] = []
        start = 0
        for size in BATCHES:
            ids = list(range(start, start + size))
            calls.append((ev, "attestScores", (task.task_id, ids, [400_000 + i for i in ids]), 0))
            start += size
        calls.append((ev, "attestScore", (task.task_id, junk, 0), 0))
        if k == 0:
            calls.append((ev, "attestScore", (task.task_id, unverified, 5), 0))
        gas = send_many(chain, mp, calls)
        if k == 1:
            for size, used in zip(BATCHES, gas, strict=False):
                figures[f"attest_scores_{size}"] = used
            figures["attest_verify_forfeit"] = gas[len(BATCHES)]
    chain.travel_to(task.eval_deadline)
    creator.finalize(task.task_id)
    figures["reclaim_bonds"] = creator.reclaim_bonds(task.task_id, plan[unverified][0]).gas_used
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="the figures the issue asks for only (under 60 s)"
    )
    args = parser.parse_args()
    node = start_anvil(("--gas-limit", "60000000"))
    try:
        w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
        chain = Chain(w3=w3, url=node.url, accounts=funded_keys())
        for account in chain.accounts:
            chain.rpc("anvil_setBalance", [account.address, hex(FUNDING)])
        deployment = deploy(w3, chain.accounts[0])
        deploy_gas = int(w3.eth.get_transaction_receipt(deployment.tx_hash)["gasUsed"])
        mp = Marketplace.from_deployment(w3, deployment, chain.accounts[0].address)

        figures: dict[str, int] = {"deploy": deploy_gas}
        creator = mp.with_signer(chain.accounts[0].address)
        now = chain.now()
        figures["create_task"] = creator.create_task(
            spec_digest=b"\x01" * 32, commit_deadline=now + 100, reveal_deadline=now + 200, eval_window=300,
            evaluators=[a.address for a in chain.accounts[1:4]], quorum=2, min_score=0,
            commit_bond=10**17, evaluator_fee=10**16, bounty=10**18,
        ).gas_used  # fmt: skip

        small = lifecycle(chain, mp, 1, 1, 2048)
        figures.update(
            commit=small["commit"], reveal_2kb=small["reveal"], request_seed=small["request_seed"],
            seal_seed=small["seal_seed"], attest=small["attest"], finalize_1=small["finalize"],
        )  # fmt: skip
        figures["reveal_24kb"] = lifecycle(chain, mp, 1, 1, c.MAX_AGENT_BYTES)["reveal"]
        three = lifecycle(chain, mp, 2, 3, 64)
        figures["attest_verify_3ev"] = three["attest_verify"]
        figures["finalize_500"] = lifecycle(chain, mp, 500, 1, 32)["finalize"]
        figures.update(v2_paths(chain, mp))
        if not args.quick:
            five = lifecycle(chain, mp, 16, 5, 64)
            figures["attest_verify_5ev"] = five["attest_verify"]
            figures["finalize_5ev"] = five["finalize"]
        winner = chain.accounts[8].address  # first solver of every task: bonds and bounties
        if mp.credits(winner) == 0:
            raise RuntimeError("bench setup: the winner has nothing to withdraw")
        figures["withdraw"] = mp.with_signer(winner).withdraw().gas_used
    finally:
        node.stop()

    print(f"{'call':<22}{'gas':>12}")
    print("-" * 34)
    for name, gas in figures.items():
        print(f"{name:<22}{gas:>12,}")
    print(json.dumps({"bench": "gas", **figures, "ratio_vs": {}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
