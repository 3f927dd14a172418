"""The commitment, agent digest and evaluation seed computed in Python, against fixed vectors."""

from __future__ import annotations

import hashlib

import pytest
from eth_utils import keccak

from services.common.chain import MAX_SCORE, commitment, evaluation_seed, xor_salts

CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
SOLVER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def _word(n: int) -> bytes:
    return n.to_bytes(32, "big")


def test_commitment_is_keccak_of_the_abi_encoding_word_by_word() -> None:
    digest = hashlib.sha256(b"agent").digest()
    salt = bytes(range(32))
    encoded = (
        _word(31337)
        + bytes(12)
        + bytes.fromhex(CONTRACT[2:])
        + _word(7)
        + bytes(12)
        + bytes.fromhex(SOLVER[2:])
        + digest
        + _word(123_456)
        + salt
    )
    got = commitment(
        chain_id=31337,
        contract=CONTRACT,
        task_id=7,
        solver=SOLVER,
        agent_digest=digest,
        claimed_score=123_456,
        salt=salt,
    )
    assert got == keccak(encoded)


def test_commitment_binds_every_field() -> None:
    base = {
        "chain_id": 31337,
        "contract": CONTRACT,
        "task_id": 1,
        "solver": SOLVER,
        "agent_digest": bytes(32),
        "claimed_score": 5,
        "salt": bytes(32),
    }
    reference = commitment(**base)  # type: ignore[arg-type]
    variants = [
        {"chain_id": 361},
        {"contract": SOLVER},
        {"task_id": 2},
        {"solver": CONTRACT},
        {"agent_digest": b"\x01" * 32},
        {"claimed_score": 6},
        {"salt": b"\x01" * 32},
    ]
    seen = {reference}
    for change in variants:
        value = commitment(**{**base, **change})  # type: ignore[arg-type]
        assert value not in seen, change
        seen.add(value)


def test_commitment_rejects_bad_inputs() -> None:
    base = {
        "chain_id": 1,
        "contract": CONTRACT,
        "task_id": 1,
        "solver": SOLVER,
        "agent_digest": bytes(32),
        "claimed_score": 0,
        "salt": bytes(32),
    }
    with pytest.raises(ValueError, match="claimed_score"):
        commitment(**{**base, "claimed_score": MAX_SCORE + 1})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="32 bytes"):
        commitment(**{**base, "salt": bytes(31)})  # type: ignore[arg-type]


def test_evaluation_seed_and_salt_xor() -> None:
    a, b = b"\x0f" * 32, b"\xf0" * 32
    assert xor_salts([a, b]) == b"\xff" * 32
    assert xor_salts([a, a]) == bytes(32)
    assert xor_salts([]) == bytes(32)
    block_hash = b"\x11" * 32
    assert evaluation_seed(block_hash, 3, a) == keccak(block_hash + _word(3) + a)
