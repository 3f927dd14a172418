"""The precomputed decoders: agree with eth_abi on any values, refuse what does not fit."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import encode
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.chain import (
    LogDecodeError,
    UnsupportedAbiError,
    build_log_decoder,
    build_log_decoders,
    load_artifact,
    snake,
)
from services.indexer.devchain import encode_log, marketplace_events

EVENTS = {e["name"]: e for e in marketplace_events()}
DECODERS = {d.name: d for d in build_log_decoders(list(load_artifact().abi)).values()}

addresses = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
words = st.binary(min_size=32, max_size=32)


def _hexlog(topics: list[bytes], data: bytes) -> tuple[list[str], str]:
    return ["0x" + t.hex() for t in topics], "0x" + data.hex()


def _expect(v: Any, t: str) -> Any:
    if isinstance(v, bytes):
        return "0x" + v.hex()
    if isinstance(v, list):
        return [x.lower() for x in v]
    if isinstance(v, bool):
        return v
    if t in ("uint256",):
        return str(v)
    return v


@settings(max_examples=60, deadline=None)
@given(
    task=st.integers(0, 2**256 - 1),
    creator=addresses,
    digest=words,
    bounty=st.integers(0, 2**256 - 1),
    deadlines=st.tuples(*[st.integers(0, 2**64 - 1)] * 3),
    evaluators=st.lists(addresses, max_size=6),
    quorum=st.integers(0, 255),
    min_score=st.integers(0, 2**32 - 1),
    bond=st.integers(0, 2**256 - 1),
)
def test_task_created_matches_eth_abi(
    task: int,
    creator: str,
    digest: bytes,
    bounty: int,
    deadlines: tuple[int, int, int],
    evaluators: list[str],
    quorum: int,
    min_score: int,
    bond: int,
) -> None:
    values = {
        "taskId": task,
        "creator": creator,
        "specDigest": digest,
        "bounty": bounty,
        "commitDeadline": deadlines[0],
        "revealDeadline": deadlines[1],
        "evalWindow": deadlines[2],
        "evaluators": evaluators,
        "quorum": quorum,
        "minScore": min_score,
        "commitBond": bond,
        "evaluatorFee": bond // 3,
    }
    ev = EVENTS["TaskCreated"]
    args = DECODERS["TaskCreated"].decode(*_hexlog(*encode_log(ev, values)))
    types = {i["name"]: i["type"] for i in ev["inputs"]}
    assert args == {snake(k): _expect(v, types[k]) for k, v in values.items()}


@settings(max_examples=60, deadline=None)
@given(agent=st.binary(max_size=3000), score=st.integers(0, 2**32 - 1), solver=addresses)
def test_solution_revealed_matches_eth_abi(agent: bytes, score: int, solver: str) -> None:
    values = {
        "taskId": 1,
        "solutionId": 2,
        "solver": solver,
        "agentDigest": b"\x11" * 32,
        "claimedScore": score,
        "agent": agent,
    }
    args = DECODERS["SolutionRevealed"].decode(
        *_hexlog(*encode_log(EVENTS["SolutionRevealed"], values))
    )
    assert args["agent"] == "0x" + agent.hex() and args["claimed_score"] == score
    assert args["solver"] == solver.lower() and next(iter(args)) == "task_id"


def _topics_data(name: str) -> tuple[list[str], str]:
    ev = EVENTS[name]
    from services.indexer.devchain import sample_values

    return _hexlog(*encode_log(ev, sample_values(ev, 3)))


@pytest.mark.parametrize(
    ("name", "mutate", "match"),
    [
        ("ScoreAttested", lambda t, d: (t[:-1], d), "3 topics, the ABI has 4"),
        ("ScoreAttested", lambda t, d: (t, "0x" + "00" * 31), "head alone is 32"),
        ("ScoreAttested", lambda t, d: (t, "0x" + "00" * 27 + "01" * 5), "does not fit uint32"),
        ("ScoreAttested", lambda t, d: ([*t[:3], "0x" + "ff" * 32], d), "not an address"),
        ("SolutionVerified", lambda t, d: (t, d[:-2] + "02"), "not a bool"),
        (
            "SolutionRevealed",
            lambda t, d: (t, d[: 2 + 64 * 2] + "00" * 30 + "1000" + d[2 + 64 * 3 :]),
            "past the end",
        ),
        ("SolutionRevealed", lambda t, d: (t, d[:-64]), "fewer present"),
        ("TaskCreated", lambda t, d: (t, d[:-64]), "fewer present"),
        ("TaskCancelled", lambda t, d: (t, "0x" + "zz" * 64), "TaskCancelled"),
    ],
)
def test_bad_logs_are_refused(name: str, mutate: Any, match: str) -> None:
    topics, data = mutate(*_topics_data(name))
    with pytest.raises(LogDecodeError, match=match):
        DECODERS[name].decode(topics, data)


def test_unsupported_abi_is_refused_at_build_time() -> None:
    with pytest.raises(UnsupportedAbiError, match="tuple"):
        build_log_decoder(
            {"name": "X", "inputs": [{"name": "a", "type": "tuple", "indexed": False}]},
            next(iter(DECODERS.values())).kind,
        )
    with pytest.raises(UnsupportedAbiError, match="lacks the events"):
        build_log_decoders([e for e in list(load_artifact().abi) if e.get("name") != "Withdrawn"])


def test_snake_case() -> None:
    assert [snake(x) for x in ("taskId", "evalSeed", "best", "agentDigest")] == [
        "task_id",
        "eval_seed",
        "best",
        "agent_digest",
    ]


def test_signed_and_short_bytes_types() -> None:
    ev = {
        "name": "Withdrawn",
        "inputs": [
            {"name": "delta", "type": "int64", "indexed": False},
            {"name": "tag", "type": "bytes4", "indexed": False},
            {"name": "big", "type": "int256", "indexed": True},
        ],
    }
    dec = build_log_decoder(ev, next(iter(DECODERS.values())).kind)
    data = encode(["int64", "bytes4"], [-5, b"\xde\xad\xbe\xef"])
    args = dec.decode(
        ["0x" + "00" * 32, "0x" + encode(["int256"], [-(2**200)]).hex()], "0x" + data.hex()
    )
    assert args == {"delta": -5, "tag": "0xdeadbeef", "big": str(-(2**200))}
