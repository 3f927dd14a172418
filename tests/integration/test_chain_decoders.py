"""The indexer's fast fixed-layout decoder and the eth-abi decoder read every log the same."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from services.common.chain import (
    EVENT_CLASSES,
    NO_SOLUTION,
    Deployment,
    Marketplace,
    RpcClient,
    build_log_decoders,
)
from tests.fixtures.chain import ETHER, Chain, commit_agent, open_task, reveal, seal


def _as_json(value: Any) -> Any:
    """An eth-abi value in the fast decoder's JSON form (addresses and bytes as lower hex)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, tuple):
        return [_as_json(v) for v in value]
    raise TypeError(f"unexpected value {value!r}")


def _fast_json(value: Any) -> Any:
    # The fast decoder writes integers wider than 64 bits as decimal strings.
    if isinstance(value, str) and value.isdecimal():
        return int(value)
    if isinstance(value, list):
        return [_fast_json(v) for v in value]
    return value


def _sample_chain(chain: Chain, mp: Marketplace) -> None:
    """Every event kind at least once: a won task, a cancelled one and one nobody won."""
    creator, solver, ev1, ev2 = chain.accounts[1:5]
    as_creator = mp.with_signer(creator)
    won = open_task(chain, as_creator, evaluators=[ev1.address, ev2.address], quorum=2)
    as_solver = mp.with_signer(solver)
    first = commit_agent(as_solver, won.task_id, os.urandom(300), 700_000)
    second = commit_agent(as_solver, won.task_id, os.urandom(200), 600_000)
    chain.travel_to(won.commit_deadline)
    reveal(as_solver, first)
    reveal(as_solver, second)
    chain.travel_to(won.reveal_deadline)
    seal(chain, mp, won.task_id)
    for evaluator in (ev1, ev2):
        mp.with_signer(evaluator).attest_score(won.task_id, first.solution_id, 690_000)
        mp.with_signer(evaluator).attest_score(won.task_id, second.solution_id, 600_000)
    chain.travel_to(won.eval_deadline)
    mp.finalize(won.task_id)
    as_solver.withdraw()

    cancelled = open_task(chain, as_creator, evaluators=[ev1.address], bounty=ETHER // 2)
    as_creator.cancel_task(cancelled.task_id)

    empty = open_task(chain, as_creator, evaluators=[ev1.address])
    chain.travel_to(empty.eval_deadline)
    mp.finalize(empty.task_id)


def test_fast_and_eth_abi_decoders_agree_on_every_event(
    chain: Chain, marketplace: Marketplace, marketplace_deployment: Deployment
) -> None:
    _sample_chain(chain, marketplace)
    rpc = RpcClient(chain.url)
    try:
        logs = rpc.call(
            "eth_getLogs",
            {
                "address": marketplace.address,
                "fromBlock": hex(marketplace_deployment.block_number),
                "toBlock": "latest",
            },
        )
    finally:
        rpc.close()
    fast = build_log_decoders(marketplace.artifact.abi)
    seen: dict[str, int] = {}
    no_winner = 0
    for log in logs:
        slow = marketplace.events.decode(
            [bytes.fromhex(t[2:]) for t in log["topics"]], bytes.fromhex(log["data"][2:])
        )
        assert slow is not None, log
        decoder = fast[log["topics"][0]]
        assert decoder.name == slow.name
        args = decoder.decode(log["topics"], log["data"])
        expected = {f.name: _as_json(getattr(slow, f.name)) for f in dataclasses.fields(slow)}
        assert list(args) == list(expected), slow.name  # same fields, same order
        assert {k: _fast_json(v) for k, v in args.items()} == expected, slow.name
        seen[slow.name] = seen.get(slow.name, 0) + 1
        no_winner += getattr(slow, "solution_id", None) == NO_SOLUTION
    assert set(seen) == {cls.name for cls in EVENT_CLASSES}, seen
    assert no_winner == 1  # the widest uint256 travels through both
