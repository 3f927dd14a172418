"""The protocol maths an auditor needs: limits, commitments, the evaluation seed, the ranking."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from services.common.settings import ANVIL_CHAIN_ID

__all__ = [
    "ANVIL_CHAIN_ID",
    "MAX_AGENT_BYTES",
    "MAX_COMMITS_PER_SOLVER",
    "MAX_EVALUATORS",
    "MAX_SCORE",
    "MIN_EVAL_WINDOW",
    "NO_SOLUTION",
    "agent_digest",
    "commitment",
    "evaluation_seed",
    "rank_key",
    "xor_salts",
]

# The contract's limits (contracts/EdgeMarketplace.sol holds the same numbers).
MAX_SCORE = 1_000_000
MAX_AGENT_BYTES = 24_576
MAX_EVALUATORS = 5
MAX_COMMITS_PER_SOLVER = 16
MIN_EVAL_WINDOW = 60
NO_SOLUTION = 2**256 - 1  # TaskFinalized.solutionId when nobody won


def agent_digest(agent: bytes) -> bytes:
    """sha256 of the agent's canonical bytes, as the contract computes it on reveal."""
    return hashlib.sha256(agent).digest()


def commitment(
    *,
    chain_id: int,
    contract: str,
    task_id: int,
    solver: str,
    agent_digest: bytes,
    claimed_score: int,
    salt: bytes,
) -> bytes:
    """keccak256(abi.encode(chainid, contract, taskId, solver, agentDigest, uint32 claimedScore, salt))."""
    if len(agent_digest) != 32 or len(salt) != 32:
        raise ValueError("agent_digest and salt must be 32 bytes each")
    if not 0 <= claimed_score <= MAX_SCORE:
        raise ValueError(f"claimed_score must be in [0, {MAX_SCORE}], got {claimed_score}")
    encoded = abi_encode(
        ["uint256", "address", "uint256", "address", "bytes32", "uint32", "bytes32"],
        [
            chain_id,
            to_checksum_address(contract),
            task_id,
            to_checksum_address(solver),
            agent_digest,
            claimed_score,
            salt,
        ],
    )
    return keccak(encoded)


def xor_salts(salts: Sequence[bytes]) -> bytes:
    acc = 0
    for s in salts:
        acc ^= int.from_bytes(s, "big")
    return acc.to_bytes(32, "big")


def evaluation_seed(seed_block_hash: bytes, task_id: int, salt_xor: bytes) -> bytes:
    """keccak256(abi.encode(blockhash(seedBlock), taskId, XOR of revealed salts)): what sealSeed stores."""
    return keccak(
        abi_encode(["bytes32", "uint256", "bytes32"], [seed_block_hash, task_id, salt_xor])
    )


def rank_key(score: int, agent_size: int, solution_id: int) -> tuple[int, int, int]:
    """The contract's order, best first when sorted ascending: the higher score, then the
    smaller agent, then the lower solution id."""
    return (-score, agent_size, solution_id)
