"""Agents: bundles of BiSUNA networks in the core's canonical binary format."""

from __future__ import annotations

import hashlib
import struct
import threading
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from bisuna import bindings as _b
from bisuna.errors import FormatError

KINDS: tuple[str, ...] = (
    "input",
    "output",
    "identity",
    "activation",
    "threshold",
    "random",
    "control",
    "roll",
)
RATES: tuple[int, ...] = (1, 7, 49)
NO_MODULATOR = 0xFFFF


@dataclass(frozen=True)
class Connection:
    """`source` -> `target`; `modulator` (a neuron id) replaces the weight when set."""

    source: int
    target: int
    weight: int = 0xFFFF
    modulator: int | None = None


@dataclass(frozen=True)
class Network:
    """A network as data: hidden neurons are (kind, firing rate) pairs; ids count inputs,
    then outputs, then hidden neurons."""

    inputs: int
    outputs: int
    hidden: tuple[tuple[str, int], ...] = ()
    connections: tuple[Connection, ...] = ()

    @property
    def neurons(self) -> int:
        return self.inputs + self.outputs + len(self.hidden)


def _encode_networks(networks: Sequence[Network]) -> bytes:
    out = bytearray(b"BSNA")
    out += struct.pack("<HH", _b.FORMAT_VERSION, len(networks))
    for net in networks:
        conns = []
        for c in net.connections:
            mod = NO_MODULATOR if c.modulator is None else c.modulator
            weight = 0 if c.modulator is not None else c.weight
            conns.append((c.target, c.source, mod, weight))
        conns.sort()
        out += struct.pack("<HHHH", net.inputs, net.outputs, len(net.hidden), len(conns))
        for kind, rate in net.hidden:
            if kind not in KINDS[2:] or rate not in RATES:
                raise FormatError(
                    f"hidden neuron ({kind!r}, {rate!r}) is not a hidden kind and rate 1/7/49"
                )
            out.append(KINDS.index(kind) | (RATES.index(rate) << 4))
        for target, source, mod, weight in conns:
            out += struct.pack("<HHHH", source, target, mod, weight)
    out += struct.pack("<I", zlib.crc32(bytes(out)) & 0xFFFFFFFF)
    return bytes(out)


@contextmanager
def running(agents: Sequence[Agent]) -> Iterator[None]:
    """Holds the run locks of these agents (each once, in a fixed order, so no deadlock):
    running a network uses its run-time state inside the core object."""
    unique = sorted({id(a): a for a in agents}.values(), key=id)
    with ExitStack() as stack:
        for a in unique:
            stack.enter_context(a._run_lock)
        yield


class Agent:
    """An immutable agent: canonical bytes plus the decoded core object. Safe to share
    between threads (running it takes its lock)."""

    __slots__ = ("_bytes", "_digest", "_ptr", "_run_lock")

    def __init__(self, ptr: Any, data: bytes) -> None:
        self._ptr = ptr
        self._bytes = data
        self._digest: bytes | None = None
        self._run_lock = threading.Lock()

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_bytes(cls, data: bytes, limits: Mapping[str, Any] | None = None) -> Agent:
        """Strictly decodes canonical agent bytes; `limits` is a spec's `limits` dict."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"agent bytes must be bytes, not {type(data).__name__}")
        raw = bytes(data)
        return cls(_b.agent_decode(raw, limits), raw)

    @classmethod
    def from_networks(cls, networks: Iterable[Network]) -> Agent:
        """Builds an agent from networks given as data (connections are sorted for you)."""
        return cls.from_bytes(_encode_networks(list(networks)))

    @classmethod
    def random(cls, spec: Mapping[str, Any], seed: int, structural: int = 200) -> Agent:
        """A random agent for the spec's environment, made like an initial agent."""
        ptr = _b.agent_random(_b.params_from_spec(spec), seed, structural)
        return cls(ptr, _b.agent_encode(ptr))

    def mutate(self, limits: Mapping[str, Any], seed: int, structural: int = 5) -> Agent:
        """A child as reproduction makes it: structural mutations, weights, orphan removal."""
        ptr = _b.agent_mutate(self._ptr, limits, seed, structural)
        return Agent(ptr, _b.agent_encode(ptr))

    # -- data --------------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        return self._bytes

    @property
    def digest(self) -> bytes:
        """sha256 of the canonical bytes."""
        if self._digest is None:
            self._digest = hashlib.sha256(self._bytes).digest()
        return self._digest

    @property
    def networks(self) -> int:
        return _b.agent_networks(self._ptr)

    @property
    def neuron_count(self) -> int:
        return sum(i["inputs"] + i["outputs"] + i["hidden"] for i in self._infos())

    @property
    def connection_count(self) -> int:
        return sum(int(i["connections"]) for i in self._infos())

    @property
    def spectrum(self) -> int:
        return _b.agent_spectrum(self._ptr)

    def _infos(self) -> list[dict[str, Any]]:
        return [_b.agent_network_info(self._ptr, k) for k in range(self.networks)]

    def describe(self) -> dict[str, Any]:
        """Per network: inputs, outputs, hidden neurons by kind, connections."""
        nets = []
        for info in self._infos():
            kinds = {KINDS[k]: int(n) for k, n in enumerate(info["kinds"]) if k >= 2 and n}
            if info["primers"]:
                kinds["control_primer"] = int(info["primers"])
                kinds["control"] = kinds.get("control", 0) - int(info["primers"])
                if not kinds["control"]:
                    del kinds["control"]
            nets.append(
                {
                    "inputs": int(info["inputs"]),
                    "outputs": int(info["outputs"]),
                    "hidden": int(info["hidden"]),
                    "neurons_by_kind": kinds,
                    "connections": int(info["connections"]),
                }
            )
        return {"bytes": len(self._bytes), "digest": self.digest.hex(), "networks": nets}

    def network(self, index: int) -> Network:
        """Network `index` as data."""
        if not 0 <= index < self.networks:
            raise IndexError(f"network {index} of an agent with {self.networks}")
        pos = 8
        for k in range(self.networks):
            n_in, n_out, n_hid, n_c = struct.unpack_from("<HHHH", self._bytes, pos)
            pos += 8
            hidden = tuple((KINDS[b & 15], RATES[b >> 4]) for b in self._bytes[pos : pos + n_hid])
            pos += n_hid
            conns = []
            for _ in range(n_c):
                src, dst, mod, w = struct.unpack_from("<HHHH", self._bytes, pos)
                pos += 8
                conns.append(Connection(src, dst, w, None if mod == NO_MODULATOR else mod))
            if k == index:
                return Network(n_in, n_out, hidden, tuple(conns))
        raise AssertionError("unreachable")

    def to_dot(self) -> str:
        """Graphviz DOT text of every network."""
        return _b.agent_dot(self._ptr)

    def run(self, inputs: npt.ArrayLike, network: int = 0, seed: int = 0) -> npt.NDArray[np.uint16]:
        """Steps network `network` once per row of `inputs` (steps x inputs words) from a
        reset state; returns steps x outputs words."""
        info = _b.agent_network_info(self._ptr, network) if 0 <= network < self.networks else None
        if info is None:
            raise IndexError(f"network {network} of an agent with {self.networks}")
        arr = np.asarray(inputs)
        if arr.ndim == 1:
            arr = arr.reshape(1, -1)
        if arr.ndim != 2 or arr.shape[1] != info["inputs"]:
            raise ValueError(
                f"inputs must be steps x {info['inputs']} words, got shape {arr.shape}"
            )
        if arr.size and (arr.min() < 0 or arr.max() > 0xFFFF):
            raise ValueError("inputs must be 16-bit words (0..65535)")
        with running([self]):
            return _b.agent_run(
                self._ptr, network, arr.astype(np.uint16), int(info["outputs"]), seed
            )

    # -- Python protocol ---------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        return isinstance(other, Agent) and other._bytes == self._bytes

    def __hash__(self) -> int:
        return hash(self._bytes)

    def __len__(self) -> int:
        return len(self._bytes)

    def __repr__(self) -> str:
        return (
            f"Agent(networks={self.networks}, neurons={self.neuron_count}, "
            f"connections={self.connection_count}, digest={self.digest.hex()[:12]})"
        )

    @property
    def _cdata(self) -> Any:
        return self._ptr
