"""Island model: split a spec's budget into islands x epochs, seed them, migrate between them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from services.common.chain.protocol import rank_key


@dataclass(frozen=True)
class Plan:
    """How a generation budget is cut: every island runs `epochs[e]` generations in epoch e."""

    islands: int
    epochs: tuple[int, ...]

    @property
    def generations(self) -> int:
        return sum(self.epochs)


@dataclass(frozen=True)
class Candidate:
    """An agent an island produced, with the training fitness its population measured."""

    agent: bytes
    fitness: int
    island: int


def plan(generations: int, islands: int, epoch_generations: int) -> Plan:
    """Cut `generations` per island into epochs of `epoch_generations` (the last may be shorter)."""
    if generations < 1 or islands < 1 or epoch_generations < 1:
        raise ValueError(
            f"budget must be positive: generations={generations}, islands={islands}, "
            f"epoch_generations={epoch_generations}"
        )
    full, rest = divmod(generations, epoch_generations)
    epochs = (epoch_generations,) * full + ((rest,) if rest else ())
    return Plan(islands=islands, epochs=epochs)


def island_seed(chain_id: int, contract: str, task_id: int, solver: str, island: int) -> bytes:
    """A 32-byte seed private to one solver's island of one task (others can't predict it...
    and needn't: the agent is only published at reveal)."""
    material = (
        f"edgemarket/island:{chain_id}:{contract.lower()}:{task_id}:{solver.lower()}:{island}"
    )
    return hashlib.sha256(material.encode()).digest()


def epoch_seed(seed: bytes, epoch: int) -> int:
    """The 64-bit seed of one island's epoch: first 8 bytes (big-endian) of sha256(seed ‖ epoch)."""
    return int.from_bytes(hashlib.sha256(seed + f"epoch/{epoch}".encode()).digest()[:8], "big")


def ranked(candidates: list[Candidate]) -> list[Candidate]:
    """Best first, in the contract's order with the island in place of the solution id: higher
    fitness, then the smaller agent, then the lower island."""
    return sorted(candidates, key=lambda c: (*rank_key(c.fitness, len(c.agent), c.island), c.agent))


def migrate(per_island: list[list[bytes]], elite: int, migrants: int) -> list[list[bytes]]:
    """Inputs of the next epoch from each island's agents (best first): every island keeps its
    `elite` best and receives the `migrants` best of its ring neighbour (island i-1), once each."""
    n = len(per_island)
    out: list[list[bytes]] = []
    for i in range(n):
        own = per_island[i][:elite]
        incoming = per_island[(i - 1) % n][:migrants] if n > 1 else []
        merged: list[bytes] = []
        for agent in own + incoming:
            if agent not in merged:
                merged.append(agent)
        out.append(merged)
    return out
