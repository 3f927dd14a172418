"""The only module that touches the compiled core (`ffi`, `lib`). Every C call that can
fail goes through `ensure()`, which turns its return code into a typed exception."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from bisuna._bisuna import ffi, lib
from bisuna.errors import (
    BisunaError,
    FormatError,
    LimitError,
    OutOfMemory,
    ScorerError,
    ShapeError,
    SpecError,
)

VERSION: str = ffi.string(lib.bsn_version()).decode()
SCORERS: tuple[str, ...] = ("bisuna-core/1", "bisuna-core/2")
_SCORER_IDS: dict[str, int] = {
    "bisuna-core/1": int(lib.BSN_SCORER_CORE_1),
    "bisuna-core/2": int(lib.BSN_SCORER_CORE_2),
}
MAX_NETWORKS: int = int(lib.BSN_MAX_NETWORKS)
KIND_COUNT: int = int(lib.BSN_KIND_COUNT)
SCORE_MAX: int = int(lib.BSN_SCORE_MAX)
FORMAT_VERSION: int = int(lib.BSN_FORMAT_VERSION)
E_LIMIT: int = int(lib.BSN_E_LIMIT)
E_SPEC: int = int(lib.BSN_E_SPEC)
FUEL_PER_STEP: int = int(lib.BSN_FUEL_PER_STEP)
FUEL_BOUND: int = int(lib.BSN_FUEL_BOUND)

_FORMAT_CODES = {
    lib.BSN_E_TRUNCATED: "truncated",
    lib.BSN_E_MAGIC: "magic",
    lib.BSN_E_VERSION: "version",
    lib.BSN_E_TRAILING: "trailing",
    lib.BSN_E_CHECKSUM: "checksum",
    lib.BSN_E_RANGE: "range",
    lib.BSN_E_NONCANONICAL: "noncanonical",
}

# The env params each environment accepts (the C parser checks them again).
ENV_PARAMS: dict[str, tuple[str, ...]] = {
    "cipher": ("payload_words", "mix"),
    "multiplexer-6": (),
    "multiplexer-11": (),
    "parity-n": ("n",),
    "mountain-car": ("max_steps",),
}
LIMIT_KEYS = ("max_neurons", "max_connections", "max_agent_bytes")


def error_name(code: int) -> str:
    """The short name of a format error code ("checksum", ...), or "" for other codes."""
    return _FORMAT_CODES.get(code, "")


def ensure(rc: int, context: str = "") -> None:
    """Raises the typed exception for a C return code; returns for BSN_OK."""
    if rc == lib.BSN_OK:
        return
    text = ffi.string(lib.bsn_strerror(rc)).decode()
    message = f"{context}: {text}" if context else text
    exc: type[BisunaError]
    if rc in _FORMAT_CODES:
        exc = FormatError
    elif rc == lib.BSN_E_SHAPE:
        exc = ShapeError
    elif rc == lib.BSN_E_LIMIT:
        exc = LimitError
    elif rc == lib.BSN_E_SPEC:
        exc = SpecError
    elif rc == lib.BSN_E_SCORER:
        exc = ScorerError
    elif rc == lib.BSN_E_NOMEM:
        exc = OutOfMemory
    else:
        exc = BisunaError
    raise exc(message, rc)


def derive_seed(eval_seed: bytes, purpose: str) -> int:
    """First 8 bytes (big-endian) of sha256(eval_seed || purpose)."""
    if not isinstance(eval_seed, bytes | bytearray | memoryview):
        raise TypeError(f"eval_seed must be bytes, not {type(eval_seed).__name__}")
    if not isinstance(purpose, str) or not purpose:
        raise ValueError("purpose must be a non-empty string")
    digest = hashlib.sha256(bytes(eval_seed) + purpose.encode()).digest()
    return int.from_bytes(digest[:8], "big")


def scorer_id(scorer: str) -> int:
    try:
        return _SCORER_IDS[scorer]
    except (KeyError, TypeError):
        raise ScorerError(
            f"unknown scorer {scorer!r}: this core knows {', '.join(SCORERS)}",
            int(lib.BSN_E_SCORER),
        ) from None


# ---- spec -> C parameters ------------------------------------------------------------------


def spec_dict(spec: Any) -> Mapping[str, Any]:
    """The spec as a mapping (a dict, or a pydantic model's model_dump())."""
    return _as_dict(spec)


def _as_dict(spec: Any) -> Mapping[str, Any]:
    if isinstance(spec, Mapping):
        return spec
    dump = getattr(spec, "model_dump", None)
    if callable(dump):
        result = dump()
        if isinstance(result, Mapping):
            return result
    raise SpecError(f"spec must be an edgemarket/task@1 dict, not {type(spec).__name__}")


def _uint(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SpecError(f"spec field `{where}` must be a non-negative integer, got {value!r}")
    return value


def _section(spec: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = spec.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SpecError(f"spec field `{key}` must be an object, got {type(value).__name__}")
    return value


def params_text(spec: Any) -> str:
    """The C parser's `key=value;...` text for an edgemarket/task@1 spec."""
    d = _as_dict(spec)
    env = d.get("env")
    if not isinstance(env, Mapping):
        raise SpecError("spec is not edgemarket/task@1: field `env` missing or not an object")
    name = env.get("name")
    if not isinstance(name, str) or name not in ENV_PARAMS:
        raise SpecError(
            f"spec field `env.name` must be one of {', '.join(ENV_PARAMS)}, got {name!r}"
        )
    items: list[str] = [f"env={name}"]
    params = env.get("params") or {}
    if not isinstance(params, Mapping):
        raise SpecError("spec field `env.params` must be an object")
    for key, value in params.items():
        if key not in ENV_PARAMS[name]:
            allowed = ", ".join(ENV_PARAMS[name]) or "none"
            raise SpecError(
                f"spec field `env.params.{key}` is not a {name} parameter (allowed: {allowed})"
            )
        if key == "mix":
            if value not in ("xor", "none"):
                raise SpecError(
                    f'spec field `env.params.mix` must be "xor" or "none", got {value!r}'
                )
            items.append(f"mix={value}")
        else:
            items.append(f"{key}={_uint(value, 'env.params.' + key)}")
    ev = _section(d, "eval")
    if ev.get("samples") is not None:
        items.append(f"samples={_uint(ev['samples'], 'eval.samples')}")
    budget = _section(d, "budget")
    if budget.get("population") is not None:
        items.append(f"population={_uint(budget['population'], 'budget.population')}")
    limits = _section(d, "limits")
    for key in LIMIT_KEYS:
        if limits.get(key) is not None:
            items.append(f"{key}={_uint(limits[key], 'limits.' + key)}")
    return ";".join(items)


def parse_params(text: str) -> Any:
    """Parses parameter text into a `bsn_params` cdata (raises SpecError / LimitError)."""
    raw = text.encode()
    p = ffi.new("bsn_params *")
    rc = lib.bsn_params_parse(raw, len(raw), p)
    if rc == lib.BSN_E_SPEC:
        raise SpecError(f"spec parameters rejected by the core (out of range?): {text}", rc)
    ensure(rc, "spec")
    return p


def params_from_spec(spec: Any) -> Any:
    return parse_params(params_text(spec))


def limits_cdata(limits: Mapping[str, Any] | None) -> Any:
    if limits is None:
        return ffi.NULL
    lim = ffi.new("bsn_limits *")
    lim.max_neurons = _uint(limits.get("max_neurons", 0xFFFF), "limits.max_neurons")
    lim.max_connections = _uint(limits.get("max_connections", 0xFFFF), "limits.max_connections")
    lim.max_agent_bytes = _uint(limits.get("max_agent_bytes", 0xFFFFFFFF), "limits.max_agent_bytes")
    return lim


def env_shape(params: Any) -> tuple[list[int], list[int]]:
    n = ffi.new("uint32_t *")
    ins = ffi.new("uint32_t[]", MAX_NETWORKS)
    outs = ffi.new("uint32_t[]", MAX_NETWORKS)
    ensure(lib.bsn_env_shape(params, n, ins, outs), "environment")
    return [ins[i] for i in range(n[0])], [outs[i] for i in range(n[0])]


# ---- agents --------------------------------------------------------------------------------


def agent_decode(data: bytes, limits: Mapping[str, Any] | None) -> Any:
    out = ffi.new("bsn_agent **")
    ensure(lib.bsn_agent_decode(data, len(data), limits_cdata(limits), ffi.NULL, out), "agent")
    return ffi.gc(out[0], lib.bsn_agent_free)


def agent_encode(ptr: Any) -> bytes:
    size = lib.bsn_agent_size(ptr)
    buf = ffi.new("uint8_t[]", size)
    ensure(lib.bsn_agent_encode(ptr, buf, size), "agent")
    return bytes(ffi.buffer(buf, size))


def agent_networks(ptr: Any) -> int:
    return int(lib.bsn_agent_networks(ptr))


def agent_network_info(ptr: Any, net: int) -> dict[str, Any]:
    vals = ffi.new("uint32_t[5]")
    kinds = ffi.new("uint32_t[]", KIND_COUNT)
    ensure(
        lib.bsn_agent_network_info(ptr, net, vals, vals + 1, vals + 2, vals + 3, kinds, vals + 4),
        "agent",
    )
    return {
        "inputs": vals[0],
        "outputs": vals[1],
        "hidden": vals[2],
        "connections": vals[3],
        "primers": vals[4],
        "kinds": [kinds[i] for i in range(KIND_COUNT)],
    }


def agent_dot(ptr: Any) -> str:
    needed = ffi.new("size_t *")
    lib.bsn_agent_dot(ptr, ffi.NULL, 0, needed)
    buf = ffi.new("char[]", needed[0])
    ensure(lib.bsn_agent_dot(ptr, buf, needed[0], needed), "dot")
    return str(ffi.string(buf).decode())


def agent_spectrum(ptr: Any) -> int:
    return int(lib.bsn_agent_spectrum(ptr))


def agent_run(
    ptr: Any, net: int, inputs: npt.NDArray[np.uint16], n_out: int, seed: int
) -> npt.NDArray[np.uint16]:
    steps = inputs.shape[0]
    outputs = np.zeros((steps, n_out), dtype=np.uint16)
    src = np.ascontiguousarray(inputs, dtype=np.uint16)
    ensure(
        lib.bsn_agent_run(
            ptr,
            net,
            ffi.cast("uint16_t *", ffi.from_buffer(src)),
            steps,
            ffi.cast("uint16_t *", ffi.from_buffer(outputs)),
            seed,
        ),
        "run",
    )
    return outputs


def agent_reset(ptr: Any, net: int, seed: int, t: int) -> None:
    """Network `net` to a fresh state: random neurons seeded with `seed`, step index `t`."""
    ensure(lib.bsn_agent_reset(ptr, net, seed, t), "reset")


def agent_step(ptr: Any, net: int, inputs: list[int], n_out: int) -> list[int]:
    """One step of network `net` from its current state: its n_out output words."""
    src = ffi.new("uint16_t[]", inputs)
    out = ffi.new("uint16_t[]", n_out)
    rc = lib.bsn_agent_step(ptr, net, src, len(inputs), out, n_out)
    ensure(rc, f"step (network {net} takes its own number of inputs and outputs)")
    return list(out)


def agent_random(params: Any, seed: int, structural: int) -> Any:
    out = ffi.new("bsn_agent **")
    ensure(lib.bsn_agent_random(params, seed, structural, ffi.NULL, out), "random agent")
    return ffi.gc(out[0], lib.bsn_agent_free)


def agent_mutate(ptr: Any, limits: Mapping[str, Any], seed: int, structural: int) -> Any:
    out = ffi.new("bsn_agent **")
    ensure(
        lib.bsn_agent_mutate(ptr, limits_cdata(limits), seed, structural, ffi.NULL, out), "mutate"
    )
    return ffi.gc(out[0], lib.bsn_agent_free)


def score(ptr: Any, params: Any, scorer: int, seeds: list[int]) -> int:
    arr = ffi.new("uint64_t[]", seeds)
    out = ffi.new("uint32_t *")
    ensure(lib.bsn_score(ptr, params, scorer, arr, len(seeds), out), "score")
    return int(out[0])


def score_batch(ptrs: list[Any], params: Any, scorer: int, seeds: list[int]) -> list[int]:
    arr = ffi.new("bsn_agent *[]", ptrs)
    seed_arr = ffi.new("uint64_t[]", seeds)
    out = ffi.new("uint32_t[]", max(1, len(ptrs)))
    failed = ffi.new("size_t *")
    rc = lib.bsn_score_batch(arr, len(ptrs), params, scorer, seed_arr, len(seeds), out, failed)
    ensure(rc, f"score (agent {failed[0]})")
    return [int(out[i]) for i in range(len(ptrs))]


def fuel_ceiling(params: Any) -> int | None:
    """The params' fuel ceiling, or None when it exceeds the core's bound."""
    out = ffi.new("uint64_t *")
    rc = lib.bsn_fuel_ceiling(params, out)
    if rc == lib.BSN_E_SPEC:
        return None
    ensure(rc, "fuel ceiling")
    return int(out[0])


def score_batch_detail(
    ptrs: list[Any], params: Any, scorer: int, seeds: list[int]
) -> list[tuple[int, int, bool]]:
    """(score, fuel, out_of_fuel) of each agent."""
    n = max(1, len(ptrs))
    arr = ffi.new("bsn_agent *[]", ptrs)
    seed_arr = ffi.new("uint64_t[]", seeds)
    out = ffi.new("uint32_t[]", n)
    fuel = ffi.new("uint64_t[]", n)
    oof = ffi.new("uint8_t[]", n)
    failed = ffi.new("size_t *")
    rc = lib.bsn_score_batch_detail(
        arr, len(ptrs), params, scorer, seed_arr, len(seeds), out, fuel, oof, failed
    )
    ensure(rc, f"score (agent {failed[0]})")
    return [(int(out[i]), int(fuel[i]), bool(oof[i])) for i in range(len(ptrs))]


def cipher_preview(
    ptr: Any, words: npt.NDArray[np.uint16], seed: int
) -> tuple[npt.NDArray[np.uint16], npt.NDArray[np.uint16]]:
    src = np.ascontiguousarray(words, dtype=np.uint16).reshape(-1)
    enc = np.zeros_like(src)
    dec = np.zeros_like(src)
    ensure(
        lib.bsn_cipher_preview(
            ptr,
            ffi.cast("uint16_t *", ffi.from_buffer(src)),
            src.size,
            seed,
            ffi.cast("uint16_t *", ffi.from_buffer(enc)),
            ffi.cast("uint16_t *", ffi.from_buffer(dec)),
        ),
        "preview",
    )
    return enc, dec


# ---- populations ---------------------------------------------------------------------------


def pop_new(params: Any, seed: int) -> Any:
    out = ffi.new("bsn_pop **")
    ensure(lib.bsn_pop_new(params, seed, ffi.NULL, out), "population")
    return ffi.gc(out[0], lib.bsn_pop_free)


def pop_evolve(pop: Any, generations: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    best = np.zeros(generations, dtype=np.int64)
    mean = np.zeros(generations, dtype=np.int64)
    ensure(
        lib.bsn_pop_evolve(
            pop,
            generations,
            ffi.cast("int64_t *", ffi.from_buffer(best)),
            ffi.cast("int64_t *", ffi.from_buffer(mean)),
        ),
        "evolve",
    )
    return best, mean


def pop_size(pop: Any) -> int:
    return int(lib.bsn_pop_size(pop))


def pop_generation(pop: Any) -> int:
    return int(lib.bsn_pop_generation(pop))


def pop_ranked(pop: Any, rank: int) -> tuple[bytes, int]:
    size = ffi.new("size_t *")
    ensure(lib.bsn_pop_ranked_size(pop, rank, size), "population")
    buf = ffi.new("uint8_t[]", size[0])
    fit = ffi.new("int64_t *")
    ensure(lib.bsn_pop_ranked_encode(pop, rank, buf, size[0], fit), "population")
    return bytes(ffi.buffer(buf, size[0])), int(fit[0])


def pop_import(pop: Any, agents: list[Any]) -> None:
    arr = ffi.new("bsn_agent *[]", agents)
    ensure(lib.bsn_pop_import(pop, arr, len(agents)), "migrants")


# ---- search strategies ---------------------------------------------------------------------


def strategy_names() -> list[str]:
    names: list[str] = []
    while (p := lib.bsn_strategy_name(len(names))) != ffi.NULL:
        names.append(ffi.string(p).decode())
    return names


def pop_new_with(params: Any, seed: int, strategy: str) -> Any:
    known = strategy_names()
    if strategy not in known:
        raise ValueError(f"unknown search strategy {strategy!r}; known: {', '.join(known)}")
    out = ffi.new("bsn_pop **")
    ensure(lib.bsn_pop_new_with(params, seed, strategy.encode(), ffi.NULL, out), "population")
    return ffi.gc(out[0], lib.bsn_pop_free)


def pop_evaluations(pop: Any) -> int:
    return int(lib.bsn_pop_evaluations(pop))


def pop_members(pop: Any) -> list[bytes]:
    raw = []
    size = ffi.new("size_t *")
    for i in range(int(lib.bsn_pop_members(pop))):
        ensure(lib.bsn_pop_member_size(pop, i, size), "population")
        buf = ffi.new("uint8_t[]", size[0])
        ensure(lib.bsn_pop_member_encode(pop, i, buf, size[0]), "population")
        raw.append(bytes(ffi.buffer(buf, size[0])))
    return raw


def pop_member_count(pop: Any) -> int:
    return int(lib.bsn_pop_members(pop))


def pop_load(pop: Any, agents: list[Any]) -> None:
    arr = ffi.new("bsn_agent *[]", agents)
    ensure(lib.bsn_pop_load(pop, arr, len(agents)), "population")
