"""Populations, scoring and previews: the public face of the core's evolution and scorer."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from bisuna import bindings as _b
from bisuna.agent import Agent, running
from bisuna.errors import LimitError

BATCH_GENERATIONS = 16


class History(NamedTuple):
    """Training fitness per generation."""

    best: npt.NDArray[np.int64]
    mean: npt.NDArray[np.int64]


class Environment:
    """What an environment needs of an agent: networks and their inputs and outputs."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        spec = _b.spec_dict(spec)
        self._params = _b.params_from_spec(spec)
        self.name: str = str(spec["env"]["name"])
        self.inputs, self.outputs = _b.env_shape(self._params)

    @property
    def networks(self) -> int:
        return len(self.inputs)

    def __repr__(self) -> str:
        return f"Environment({self.name!r}, inputs={self.inputs}, outputs={self.outputs})"


def _network_purposes(spec: Mapping[str, Any], networks: int) -> list[str]:
    if networks == 2 and spec["env"]["name"] == "cipher":
        return ["alice", "bob"]
    if networks == 1:
        return ["agent"]
    return [f"network{k}" for k in range(networks)]


def _within_limits(agent: Agent | bytes, limits: Mapping[str, Any] | None) -> Agent:
    """The agent decoded under the spec's limits (LimitError if it exceeds them), whether it
    came as bytes or as an Agent decoded earlier without them."""
    if isinstance(agent, Agent):
        if limits:
            Agent.from_bytes(agent.to_bytes(), limits)
        return agent
    return Agent.from_bytes(agent, limits)


def _seeds(spec: Mapping[str, Any], params: Any, eval_seed: bytes) -> list[int]:
    n_nets, _ = _b.env_shape(params)
    purposes = _network_purposes(spec, len(n_nets))
    return [_b.derive_seed(eval_seed, "cases")] + [_b.derive_seed(eval_seed, p) for p in purposes]


def score(
    agent: Agent | bytes,
    spec: Mapping[str, Any],
    eval_seed: bytes,
    scorer: str = "bisuna-core/1",
) -> int:
    """The agent's score in 0..1_000_000 on the spec's environment, for this evaluation seed.
    Bit-identical everywhere: seeds are derive_seed(eval_seed, "cases" / "alice" / ...)."""
    sid = _b.scorer_id(scorer)
    spec = _b.spec_dict(spec)
    params = _b.params_from_spec(spec)
    a = _within_limits(agent, spec.get("limits"))
    with running([a]):
        return _b.score(a._cdata, params, sid, _seeds(spec, params, eval_seed))


def score_many(
    agents: Sequence[Agent | bytes],
    spec: Mapping[str, Any],
    eval_seed: bytes,
    scorer: str = "bisuna-core/1",
) -> list[int]:
    """score() of each agent, in one call into the core (GIL released throughout)."""
    sid = _b.scorer_id(scorer)
    spec = _b.spec_dict(spec)
    params = _b.params_from_spec(spec)
    decoded = [_within_limits(a, spec.get("limits")) for a in agents]
    seeds = _seeds(spec, params, eval_seed)
    with running(decoded):
        return _b.score_batch([a._cdata for a in decoded], params, sid, seeds)


def cipher_preview(
    agent: Agent, words: npt.ArrayLike, seed: int
) -> tuple[npt.NDArray[np.uint16], npt.NDArray[np.uint16], npt.NDArray[np.uint16]]:
    """Encrypts `words` (16-bit, e.g. an image's pixels) with Alice under a key stream drawn
    from `seed` and decrypts with Bob: (original, ciphertext, decryption)."""
    arr = np.asarray(words)
    if arr.size and (arr.min() < 0 or arr.max() > 0xFFFF):
        raise ValueError("words must be 16-bit values (0..65535)")
    orig = arr.astype(np.uint16).reshape(-1)
    with running([agent]):
        enc, dec = _b.cipher_preview(agent._cdata, orig, seed)
    shape = arr.shape
    return orig.reshape(shape).copy(), enc.reshape(shape), dec.reshape(shape)


class Population:
    """A BiSUNA population for an edgemarket/task@1 spec, seeded with a 64-bit seed, searching
    with a strategy from `strategies()`: "suna" (the published BiSUNA generation, the default)
    or "es" (lineages of a (1 + 4) evolution strategy, (1 + 9) on the boolean tasks, with
    neutral drift and restarts; see README, "Search strategies").

    `evolve` runs whole generations in C, in batches, with the GIL released. One population
    is safe to use from several threads (calls are serialised)."""

    def __init__(self, spec: Mapping[str, Any], seed: int, strategy: str = "suna") -> None:
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 1 << 64:
            raise ValueError(f"seed must be an integer in 0..2**64-1, got {seed!r}")
        if not isinstance(strategy, str):
            raise ValueError(f"strategy must be a name such as 'suna', got {strategy!r}")
        spec = _b.spec_dict(spec)
        self.spec = spec
        self.seed = seed
        self.strategy = strategy
        self._params = _b.params_from_spec(spec)
        self._limits = dict(spec.get("limits") or {})
        self._ptr = _b.pop_new_with(self._params, seed, strategy)
        self._lock = threading.Lock()
        self._best: list[npt.NDArray[np.int64]] = []
        self._mean: list[npt.NDArray[np.int64]] = []

    @property
    def size(self) -> int:
        return _b.pop_size(self._ptr)

    @property
    def generation(self) -> int:
        return _b.pop_generation(self._ptr)

    @property
    def evaluations(self) -> int:
        """Agent evaluations so far (generations, confirmations and imports)."""
        return _b.pop_evaluations(self._ptr)

    def evolve(
        self, generations: int, on_progress: Callable[[int, int], object] | None = None
    ) -> None:
        """Runs `generations` generations; on_progress(generation, best_fitness) is called
        for each one, after each batch of up to 16 generations."""
        if isinstance(generations, bool) or not isinstance(generations, int) or generations < 0:
            raise ValueError(f"generations must be a non-negative integer, got {generations!r}")
        done = 0
        while done < generations:
            n = min(BATCH_GENERATIONS, generations - done) if on_progress else generations - done
            with self._lock:
                start = _b.pop_generation(self._ptr)
                best, mean = _b.pop_evolve(self._ptr, n)
                self._best.append(best)
                self._mean.append(mean)
            done += n
            if on_progress is not None:
                for i in range(n):
                    on_progress(start + i + 1, int(best[i]))

    @property
    def history(self) -> History:
        with self._lock:
            best = np.concatenate(self._best) if self._best else np.zeros(0, np.int64)
            mean = np.concatenate(self._mean) if self._mean else np.zeros(0, np.int64)
        return History(best, mean)

    def best(self) -> Agent:
        """The best agent of the last generation (training fitness, then fewer neurons)."""
        return self.export_best(1)[0]

    @property
    def best_fitness(self) -> int:
        with self._lock:
            return _b.pop_ranked(self._ptr, 0)[1]

    def export_best(self, k: int) -> list[Agent]:
        """The k best agents of the last generation, best first."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise ValueError(f"k must be a non-negative integer, got {k!r}")
        with self._lock:
            k = min(k, _b.pop_size(self._ptr))
            raw = [_b.pop_ranked(self._ptr, r)[0] for r in range(k)]
        return [Agent.from_bytes(b) for b in raw]

    def import_migrants(self, migrants: Sequence[Agent]) -> None:
        """Replaces the lowest-ranked agents with copies of the migrants (from other islands);
        they are evaluated on the last generation's cases right away."""
        agents = [m if isinstance(m, Agent) else Agent.from_bytes(m) for m in migrants]
        if len(agents) >= self.size:
            raise LimitError(
                f"{len(agents)} migrants into a population of {self.size}: at most {self.size - 1}",
                _b.E_LIMIT,
            )
        with self._lock:
            _b.pop_import(self._ptr, [a._cdata for a in agents])

    def export_population(self) -> list[bytes]:
        """The agents that carry this population's state (suna: every member; es: each
        lineage's parent), as canonical bytes: store them and `load` them into a population
        with the same spec and strategy to carry the search across epochs."""
        with self._lock:
            return _b.pop_members(self._ptr)

    def load(self, agents: Sequence[Agent | bytes]) -> None:
        """Puts exported agents back: member i becomes agents[i] (at most as many as
        `export_population` returns). They are evaluated before the next generation's
        selection; suna ranks nothing until then (`best()` needs an `evolve` first)."""
        decoded = [_within_limits(a, self._limits) for a in agents]
        with self._lock:
            n = _b.pop_member_count(self._ptr)
            if len(decoded) > n:
                raise LimitError(
                    f"{len(decoded)} agents into a {self.strategy} population that carries "
                    f"{n}: at most {n}",
                    _b.E_LIMIT,
                )
            with running(decoded):
                _b.pop_load(self._ptr, [a._cdata for a in decoded])


def strategies() -> list[str]:
    """Names of the search strategies the core offers, e.g. ["suna", "es"]."""
    return _b.strategy_names()
