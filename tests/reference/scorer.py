"""A pure-Python scorer `bisuna-core/1`, written from docs/scorer.md alone (section numbers
below are the document's). Slow and plain on purpose: it exists to show the document is
enough to re-derive every score, and to check the C core against it.

`score(agent_bytes, spec, eval_seed)` returns a `Result`: the score and, per network, how
many steps it ran and the sha256 of its output words (section 9). The environments drive
their networks through a `Stepper` (reset + step); `PyNet` is this module's own step, and
tests/reference/make_vectors.py plugs in the C core's step through the same interface."""

from __future__ import annotations

import hashlib
import math
import struct
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

MILLION = 1_000_000
M64 = (1 << 64) - 1
M32 = (1 << 32) - 1
NONE = 0xFFFF

INPUT, OUTPUT, IDENTITY, ACTIVATION, THRESHOLD, RANDOM, CONTROL, ROLL = range(8)
MASK = (0xFFFF, 0x07FF, 0x003F)  # per rate code 0, 1, 2 (firing rate 1, 7, 49)
INHIBITED = 256
FIRE_MIN = 15


def tdiv(a: int, b: int) -> int:
    """Integer division truncated toward zero (C's `/`, section 2)."""
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


# ---- section 3: generator, bounded draw, seeds, random neuron ---------------------------------


def splitmix64(x: int) -> tuple[int, int]:
    x = (x + 0x9E3779B97F4A7C15) & M64
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return x, z ^ (z >> 31)


def rotl(x: int, k: int) -> int:
    return ((x << k) | (x >> (64 - k))) & M64


class Rng:
    """xoshiro256** seeded by four splitmix64 outputs."""

    def __init__(self, seed: int) -> None:
        x = seed & M64
        self.s = []
        for _ in range(4):
            x, z = splitmix64(x)
            self.s.append(z)

    def next(self) -> int:
        s = self.s
        result = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def below(self, n: int) -> int:
        m = (self.next() >> 32) * n
        if (m & M32) < n:
            threshold = ((1 << 32) - n) % n
            while (m & M32) < threshold:
                m = (self.next() >> 32) * n
        return m >> 32

    def word(self) -> int:
        return self.next() >> 48


def derive_seed(eval_seed: bytes, purpose: str) -> int:
    return int.from_bytes(hashlib.sha256(eval_seed + purpose.encode()).digest()[:8], "big")


def random_word(seed: int, t: int, neuron: int) -> int:
    h = (seed & M32) ^ ((t * 0x9E3779B9) & M32)
    h ^= (neuron * 0x85EBCA6B) & M32
    h ^= seed >> 32
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & M32
    h ^= h >> 16
    return h >> 16


def popcount(x: int) -> int:
    return bin(x).count("1")


# ---- section 4: agents -------------------------------------------------------------------------


@dataclass
class Net:
    inputs: int
    outputs: int
    kind: list[int]
    rate: list[int]
    conns: list[tuple[int, int, int, int]]  # (from, to, modulator, weight), canonical order


def decode(data: bytes) -> list[Net]:
    def fail(why: str) -> ValueError:
        return ValueError(f"agent: {why}")

    if data[:4] != b"BSNA":
        raise fail("bad magic")
    if len(data) < 12:
        raise fail("truncated")
    if zlib.crc32(data[:-4]) != struct.unpack_from("<I", data, len(data) - 4)[0]:
        raise fail("checksum mismatch (or truncated / trailing bytes)")
    version, count = struct.unpack_from("<HH", data, 4)
    if version != 1 or not 1 <= count <= 16:
        raise fail(f"version {version}, {count} networks")
    pos, nets = 8, []
    for _ in range(count):
        n_in, n_out, n_hid, n_c = struct.unpack_from("<HHHH", data, pos)
        pos += 8
        n = n_in + n_out + n_hid
        if n_in == 0 or n_out == 0 or n >= NONE:
            raise fail("neuron counts out of range")
        kind = [INPUT] * n_in + [OUTPUT] * n_out
        rate = [0] * (n_in + n_out)
        for b in data[pos : pos + n_hid]:
            if not IDENTITY <= b & 15 <= ROLL or b >> 4 > 2:
                raise fail(f"hidden neuron byte {b:#04x}")
            kind.append(b & 15)
            rate.append(b >> 4)
        pos += n_hid
        conns = []
        for _ in range(n_c):
            f, t, m, w = struct.unpack_from("<HHHH", data, pos)
            pos += 8
            if f >= n or t >= n or (m != NONE and m >= n):
                raise fail("connection names a missing neuron")
            if m != NONE and w != 0:
                raise fail("modulated connection with a weight")
            conns.append((f, t, m, w))
        if [(t, f, m, w) for f, t, m, w in conns] != sorted((t, f, m, w) for f, t, m, w in conns):
            raise fail("connections not in canonical order")
        nets.append(Net(n_in, n_out, kind, rate, conns))
    if pos + 4 != len(data):
        raise fail("length does not match the structure")
    return nets


# ---- section 5: the step -----------------------------------------------------------------------


class Stepper(Protocol):
    n_in: int
    n_out: int

    def reset(self, seed: int, t: int) -> None: ...

    def step(self, inputs: list[int]) -> list[int]: ...


class PyNet:
    """One network's run-time state and step."""

    def __init__(self, net: Net) -> None:
        self.net = net
        self.n_in, self.n_out = net.inputs, net.outputs
        n = len(net.kind)
        self.incoming: list[list[int]] = [[] for _ in range(n)]
        for i, (_, to, _, _) in enumerate(net.conns):
            self.incoming[to].append(i)
        self.control_out: list[list[int]] = [[] for _ in range(n)]
        for i, (f, _, _, _) in enumerate(net.conns):
            if net.kind[f] == CONTROL:
                self.control_out[f].append(i)
        fed_by_control = {to for f, to, _, _ in net.conns if net.kind[f] == CONTROL}
        controls = [i for i in range(n) if net.kind[i] == CONTROL]
        self.primers = [i for i in controls if i not in fed_by_control]
        self.controls = [i for i in controls if i in fed_by_control]
        self.others = [i for i in range(net.inputs, n) if net.kind[i] != CONTROL]
        self.reset(0, 0)

    def reset(self, seed: int, t: int) -> None:
        n, nc = len(self.net.kind), len(self.net.conns)
        self.prev = [0] * n
        self.pff = [0] * nc
        self.seed, self.t = seed, t

    def step(self, inputs: list[int]) -> list[int]:
        net = self.net
        kind, conns = net.kind, net.conns
        n = len(kind)
        state, out, exc = [0] * n, [0] * n, [0] * n
        fired = [False] * n
        ff = [0] * len(conns)
        prev, pff = self.prev, self.pff

        def mod_word(m: int) -> int:
            if exc[m] >= INHIBITED:
                return 0
            return state[m] if fired[m] else prev[m]

        def execute(i: int, obs: int) -> None:
            acc = 0
            for c in self.incoming[i]:
                src, _, mod, weight = conns[c]
                ff[c] = 0
                if kind[src] == CONTROL:
                    continue
                if mod == NONE:
                    if not fired[src] and pff[c]:
                        continue
                    w = weight
                    ff[c] = 1 if fired[src] else 0
                else:
                    w = mod_word(mod)
                acc |= w & (state[src] if fired[src] else prev[src])
            k = kind[i]
            if k == INPUT:
                o = (acc + obs) & 0xFFFF
            elif k == ACTIVATION:
                o = popcount(acc)
            elif k in (THRESHOLD, CONTROL):
                o = 255 if popcount(acc) >= 4 else 0
            elif k == RANDOM:
                o = random_word(self.seed, self.t, i)
            elif k == ROLL:
                o = ((acc << 1) | (acc >> 15)) & 0xFFFF
            else:
                o = acc
            out[i] = o
            state[i] = ~o & MASK[net.rate[i]]

        def apply_control(ctl: int) -> None:
            for c in self.control_out[ctl]:
                _, to, mod, weight = conns[c]
                w = weight if mod == NONE else mod_word(mod)
                exc[to] |= w & state[ctl]

        # 1. inputs
        for i in range(self.n_in):
            execute(i, inputs[i])
        for i in range(self.n_in):
            fired[i] = True
        # 2. primers
        for i in self.primers:
            execute(i, 0)
        for i in self.primers:
            fired[i] = True
        for i in self.primers:
            apply_control(i)
        # 3. the other control neurons, in rounds
        while True:
            ready = [i for i in self.controls if not fired[i] and exc[i] < INHIBITED]
            if not ready:
                break
            for i in ready:
                execute(i, 0)
            for i in ready:
                fired[i] = True
            for i in ready:
                apply_control(i)
        # 4. hidden and output neurons, in passes
        work = [i for i in self.others if exc[i] < INHIBITED]
        while work:
            firing = []
            for i in work:
                if not any(
                    conns[c][2] == NONE and fired[conns[c][0]] and kind[conns[c][0]] != CONTROL
                    for c in self.incoming[i]
                ):
                    continue
                execute(i, 0)
                if out[i] >= FIRE_MIN:
                    firing.append(i)
            if not firing:
                break
            for i in firing:
                fired[i] = True
            work = [i for i in work if not fired[i]]
        # 5. outputs
        result = []
        for i in range(self.n_in, self.n_in + self.n_out):
            if not fired[i]:
                execute(i, 0)
            result.append(out[i])
        # 6. what the next step sees
        self.prev, self.pff = state, ff
        self.t += 1
        return result


# ---- section 6: spec parameters -----------------------------------------------------------------


@dataclass(frozen=True)
class Params:
    env: str
    mix: str = "xor"
    payload_words: int = 3
    n: int = 3
    max_steps: int = 1000
    samples: int = 4096
    limits: Mapping[str, int] = field(default_factory=dict)


def params(spec: Mapping[str, Any]) -> Params:
    env = spec["env"]["name"]
    p = dict(spec["env"].get("params") or {})
    samples = (spec.get("eval") or {}).get("samples")
    if samples is None:
        samples = 16 if env == "mountain-car" else 4096
    limits = {"max_neurons": 256, "max_connections": 2048, "max_agent_bytes": 24576}
    limits.update({k: v for k, v in (spec.get("limits") or {}).items() if v is not None})
    return Params(env=env, samples=samples, limits=limits, **p)


def shape(p: Params) -> list[tuple[int, int]]:
    if p.env == "cipher":
        n = p.payload_words
        return [(n if p.mix == "xor" else 2 * n, n)] * 2
    return [
        ({"multiplexer-6": 6, "multiplexer-11": 11, "parity-n": p.n, "mountain-car": 2}[p.env], 1)
    ]


# ---- section 9: recording the outputs -------------------------------------------------------------


class Recorder:
    """Wraps a stepper; hashes every output word it produces (u16 little-endian)."""

    def __init__(self, inner: Stepper) -> None:
        self.inner = inner
        self.n_in, self.n_out = inner.n_in, inner.n_out
        self.hash = hashlib.sha256()
        self.steps = 0

    def reset(self, seed: int, t: int) -> None:
        self.inner.reset(seed, t)

    def step(self, inputs: list[int]) -> list[int]:
        out = self.inner.step(inputs)
        self.hash.update(struct.pack(f"<{len(out)}H", *out))
        self.steps += 1
        return out


# ---- section 7: the environments ----------------------------------------------------------------


def cipher(p: Params, nets: list[Stepper], seeds: list[int], train: bool = False) -> int:
    S, N = p.samples, p.payload_words
    rng = Rng(seeds[0])
    P, K = [], []
    for _ in range(S):
        P.append([rng.word() for _ in range(N)])
        K.append([rng.word() for _ in range(N)])
    alice, bob = nets
    alice.reset(seeds[1], 0)
    bob.reset(seeds[2], 0)
    C, Q = [], []
    for s in range(S):
        p_, k = P[s], K[s]
        a_in = [k[i] ^ p_[i] for i in range(N)] if p.mix == "xor" else p_ + k
        c = alice.step(a_in)
        b_in = [k[i] ^ c[i] for i in range(N)] if p.mix == "xor" else c + k
        C.append(c)
        Q.append(bob.step(b_in))
    bits = S * 16 * N
    right = sum(16 - popcount(Q[s][i] ^ P[s][i]) for s in range(S) for i in range(N))
    corr = tdiv((2 * right - bits) * MILLION, bits)
    if not train and corr < 0:
        corr = 0
    return tdiv(corr * (MILLION - advantage(P, C, N)), MILLION)


def advantage(P: list[list[int]], C: list[list[int]], N: int) -> int:
    S = len(P)
    half, bits = S // 2, 16 * N
    T = (S - half) * bits

    def as_int(words: list[int]) -> int:  # bit 16*i + b = bit b of word i
        return sum(w << (16 * i) for i, w in enumerate(words))

    cs = [as_int(c) for c in C]
    ps = [as_int(x) for x in P]
    right = [0, 0, 0]
    # attacker 1: P = C
    for s in range(half, S):
        right[0] += bits - popcount(cs[s] ^ ps[s])
    # attacker 2: per bit, the majority P bit for each C bit (ties: 0)
    when1 = when0 = 0
    for j in range(bits):
        n = [[0, 0], [0, 0]]  # n[c bit][p bit]
        for s in range(half):
            n[(cs[s] >> j) & 1][(ps[s] >> j) & 1] += 1
        if n[1][1] > n[1][0]:
            when1 |= 1 << j
        if n[0][1] > n[0][0]:
            when0 |= 1 << j
    full = (1 << bits) - 1
    for s in range(half, S):
        guess = (cs[s] & when1) | (~cs[s] & full & when0)
        right[1] += bits - popcount(guess ^ ps[s])
    # attacker 3: affine GF(2) map, reduced row echelon form built row by row
    rows: list[tuple[int, int, int]] = []  # (vector, rhs, pivot)
    for s in range(half):
        v, b = cs[s] | (1 << bits), ps[s]
        for rv, rb, pv in rows:
            if (v >> pv) & 1:
                v ^= rv
                b ^= rb
        if v == 0:
            continue
        pv = (v & -v).bit_length() - 1
        rows = [((rv ^ v, rb ^ b, rp) if (rv >> pv) & 1 else (rv, rb, rp)) for rv, rb, rp in rows]
        rows.append((v, b, pv))
        if len(rows) == bits + 1:
            break
    for s in range(half, S):
        v = cs[s] | (1 << bits)
        guess = 0
        for _, rb, pv in rows:
            if (v >> pv) & 1:
                guess ^= rb
        right[2] += bits - popcount(guess ^ ps[s])
    margin = 4 * math.isqrt(T)
    adv = 0
    for h in right:
        d = abs(2 * h - T) - margin
        if d > 0:
            adv = max(adv, d * MILLION // (T - margin))
    return min(adv, MILLION)


def boolean(p: Params, nets: list[Stepper], seeds: list[int]) -> int:
    net = nets[0]
    nb = net.n_in
    correct = 0
    for c in range(1 << nb):
        net.reset(seeds[1], c)
        out = net.step([0xFFFF if (c >> j) & 1 else 0 for j in range(nb)])
        if p.env == "multiplexer-6":
            want = (c >> (2 + (c & 3))) & 1
        elif p.env == "multiplexer-11":
            want = (c >> (3 + (c & 7))) & 1
        else:
            want = popcount(c) & 1
        correct += (out[0] >> 15) == want
    return correct * MILLION // (1 << nb)


PI = 3141593
TWO_PI = 6283185


def cos_quarter(t: int) -> int:
    t2 = t * t // MILLION
    term = total = MILLION
    for k in range(1, 6):
        term = tdiv(tdiv(-term * t2, MILLION), (2 * k - 1) * (2 * k))
        total += term
    return total


def icos(t: int) -> int:
    t = abs(t) % TWO_PI
    if t > PI:
        t = TWO_PI - t
    if t > PI // 2:
        return -cos_quarter(PI - t)
    return cos_quarter(t)


def obs_word(value: int, scale: int) -> int:
    x = (2 * (32767 * scale + 32767 * value) + scale) // (2 * scale)
    return max(0, min(65535, x))


def mountain_car(p: Params, nets: list[Stepper], seeds: list[int]) -> int:
    net = nets[0]
    rng = Rng(seeds[0])
    total = 0
    for e in range(p.samples):
        x, v = -600_000 + rng.below(200_001), 0
        net.reset((seeds[1] + e) & M64, 0)
        t = 0
        while t < p.max_steps:
            out = net.step([obs_word(x + 300_000, 900_000), obs_word(v, 70_000)])
            push = 1000 if out[0] >> 15 else -1000
            v = max(-70_000, min(70_000, v + push - tdiv(2500 * icos(3 * x), MILLION)))
            x = max(-1_200_000, min(600_000, x + v))
            if x == -1_200_000 and v < 0:
                v = 0
            t += 1
            if x >= 500_000:
                total += MILLION * (p.max_steps - t) // p.max_steps
                break
    return total // p.samples


# ---- section 8: the score ------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    score: int
    steps: list[int]
    outputs_sha256: list[str]


PURPOSES = {"cipher": ["alice", "bob"]}


def score(
    agent: bytes,
    spec: Mapping[str, Any],
    eval_seed: bytes,
    stepper: Callable[[bytes, int], Stepper] | None = None,
) -> Result:
    """The score of `agent` bytes on `spec` for `eval_seed` (32 bytes). `stepper(agent, k)`
    gives network k's stepper (default: this module's PyNet)."""
    p = params(spec)
    decoded = decode(agent)
    lim = p.limits
    if len(agent) > lim["max_agent_bytes"] or any(
        len(n.kind) > lim["max_neurons"] or len(n.conns) > lim["max_connections"] for n in decoded
    ):
        raise ValueError("agent exceeds the spec's limits")
    if [(n.inputs, n.outputs) for n in decoded] != shape(p):
        raise ValueError(f"agent's networks do not fit {p.env}: want {shape(p)}")
    purposes = PURPOSES.get(p.env, ["agent"])
    seeds = [derive_seed(eval_seed, "cases")] + [derive_seed(eval_seed, x) for x in purposes]
    make = stepper or (lambda _a, k: PyNet(decoded[k]))
    nets = [Recorder(make(agent, k)) for k in range(len(decoded))]
    run: Callable[[Params, list[Stepper], list[int]], int]
    run = {"cipher": cipher, "mountain-car": mountain_car}.get(p.env, boolean)
    value = max(0, min(MILLION, run(p, list(nets), seeds)))
    return Result(value, [r.steps for r in nets], [r.hash.hexdigest() for r in nets])
