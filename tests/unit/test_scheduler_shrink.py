"""A perfect agent made smaller: pruning keeps it perfect and drops what nothing needs."""

from __future__ import annotations

import json

import bisuna
from bisuna.agent import Connection, Network
from services.common.scoring import score_agent
from services.common.spec import parse_spec
from services.scheduler.shrink import shrink

SPEC = parse_spec(
    json.dumps(
        {
            "schema": "edgemarket/task@1",
            "scorer": "bisuna-core/1",
            "env": {"name": "cipher", "params": {"payload_words": 1, "mix": "xor"}},
            "eval": {"samples": 64},
        }
    )
)
SEEDS = [b"\x01" * 32, b"\x02" * 32]
PERFECT = 1_000_000


def pad_network(junk: bool) -> Network:
    """The one-time pad (input to output, weight ffff), with or without dead weight: two
    hidden neurons fed by the input that feed no output."""
    conns = [Connection(0, 1, 0xFFFF)]
    hidden: tuple[tuple[str, int], ...] = ()
    if junk:
        hidden = (("identity", 1), ("activation", 1))
        conns += [Connection(0, 2, 0x00F0), Connection(2, 3, 0x0F0F), Connection(3, 3, 0x1234)]
    return Network(1, 1, hidden, tuple(conns))


def perfect(agent: bytes) -> bool:
    return all(score_agent(agent, SPEC, s).score == PERFECT for s in SEEDS)


def test_pruning_finds_the_smaller_perfect_agent() -> None:
    pad = bisuna.Agent.from_networks([pad_network(False)] * 2).to_bytes()
    bloated = bisuna.Agent.from_networks([pad_network(True)] * 2).to_bytes()
    assert perfect(bloated) and perfect(pad)
    assert shrink(bloated, perfect) == pad  # junk connections and idle neurons gone
    assert shrink(pad, perfect) == pad  # nothing left to remove


def test_pruning_never_trades_the_score_for_size() -> None:
    bloated = bisuna.Agent.from_networks([pad_network(True)] * 2).to_bytes()
    # A predicate nothing smaller satisfies: the agent comes back as it was.
    assert shrink(bloated, lambda a: a == bloated) == bloated
    # No time to try anything: unchanged too.
    assert shrink(bloated, perfect, seconds=0) == bloated
