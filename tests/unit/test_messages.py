"""Messages: kinds, typed arguments, canonical JSON and clear errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.common.messages import (
    ARGS_MODELS,
    EVENT_KINDS,
    Kind,
    Message,
    MessageError,
    canonical_json,
    decode_message,
)

ADDR = "0x" + "ab" * 20
H32 = "0x" + "cd" * 32


def _msg(kind: Kind, args: dict[str, Any], log_index: int | None = 0) -> dict[str, Any]:
    return {
        "schema": 1,
        "kind": kind.value,
        "chain_id": 31337,
        "contract": ADDR,
        "block_number": 7,
        "block_hash": H32,
        "tx_hash": H32,
        "log_index": log_index,
        "args": args,
    }


def test_every_kind_has_args_and_every_event_a_kind() -> None:
    assert set(ARGS_MODELS) == set(Kind)
    assert set(EVENT_KINDS.values()) == set(Kind) - {Kind.CHAIN_REORGED}
    assert all(k.value.count(".") == 1 for k in Kind)


def test_round_trip_and_typed_args() -> None:
    doc = _msg(
        Kind.TASK_FINALIZED,
        {
            "task_id": "1",
            "winner": ADDR,
            "solution_id": str(2**256 - 1),
            "score": 5,
            "payout": "10",
        },
    )
    m = decode_message(canonical_json(doc))
    assert m.kind is Kind.TASK_FINALIZED and m.identity == (H32, 0)
    assert decode_message(m.to_json()) == m
    assert json.loads(m.to_json()) == doc
    args = m.typed_args()
    assert args.solution_id == 2**256 - 1 and args.task_id == 1


def test_canonical_json_is_order_free() -> None:
    assert canonical_json({"b": 1, "a": [1, {"d": 2, "c": "é"}]}) == (
        '{"a":[1,{"c":"é","d":2}],"b":1}'.encode()
    )


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"not json", "not JSON"),
        (b"[]", "not a JSON object"),
        (canonical_json({**_msg(Kind.SEED_SET, {}), "schema": 2}), "schema 2"),
        (canonical_json({**_msg(Kind.SEED_SET, {}), "kind": "task.exploded"}), "`kind`"),
        (canonical_json({**_msg(Kind.SEED_SET, {}), "block_hash": "0x12"}), "`block_hash`"),
        (
            canonical_json({k: v for k, v in _msg(Kind.SEED_SET, {}).items() if k != "chain_id"}),
            "`chain_id`",
        ),
    ],
)
def test_bad_messages(data: bytes, match: str) -> None:
    with pytest.raises(MessageError, match=match):
        decode_message(data)


def test_bad_args_are_caught_by_typed_view() -> None:
    m = Message.model_validate(
        _msg(
            Kind.SCORE_ATTESTED,
            {"task_id": "1", "solution_id": "0", "evaluator": ADDR, "score": 2**32},
        )
    )
    with pytest.raises(MessageError, match=r"score\.attested message has bad args"):
        m.typed_args()


def test_reorg_message_has_no_log_index() -> None:
    m = Message.model_validate(
        _msg(
            Kind.CHAIN_REORGED,
            {
                "from_block": 5,
                "to_block": 9,
                "orphaned": [H32],
                "ancestor_number": 4,
                "ancestor_hash": H32,
            },
            log_index=None,
        )
    )
    assert m.typed_args().orphaned == [H32]
