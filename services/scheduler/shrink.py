"""A perfect agent made smaller: greedy pruning that keeps the score perfect (the contract
prefers the smaller agent on equal scores)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import bisuna
from bisuna.agent import Connection, Network


def _without_connection(net: Network, index: int) -> Network:
    return replace(net, connections=net.connections[:index] + net.connections[index + 1 :])


def _without_idle_hidden(net: Network) -> Network:
    """Drops hidden neurons no connection touches, renumbering the ones after them."""
    fixed = net.inputs + net.outputs
    used: set[int] = set()
    for c in net.connections:
        used.update((c.source, c.target))
        if c.modulator is not None:
            used.add(c.modulator)
    keep = [j for j in range(len(net.hidden)) if fixed + j in used]
    if len(keep) == len(net.hidden):
        return net
    new_id = {fixed + j: fixed + k for k, j in enumerate(keep)}

    def moved(n: int) -> int:
        return new_id.get(n, n)

    conns = tuple(
        Connection(
            moved(c.source),
            moved(c.target),
            c.weight,
            None if c.modulator is None else moved(c.modulator),
        )
        for c in net.connections
    )
    return replace(net, hidden=tuple(net.hidden[j] for j in keep), connections=conns)


def shrink(
    agent: bytes, still_perfect: Callable[[bytes], bool], *, seconds: float = 2.0
) -> bytes:
    """Removes connections one at a time (last first), keeping each removal after which
    `still_perfect` holds, then drops hidden neurons nothing touches any more; stops after
    about `seconds`. Returns the smallest agent found (`agent` itself if none)."""
    started = time.monotonic()
    current = bisuna.Agent.from_bytes(agent)
    nets = [current.network(i) for i in range(current.networks)]
    for n in range(len(nets)):
        i = len(nets[n].connections) - 1
        while i >= 0 and time.monotonic() - started < seconds:
            trial = [*nets[:n], _without_connection(nets[n], i), *nets[n + 1 :]]
            data = bisuna.Agent.from_networks(trial).to_bytes()
            if still_perfect(data):
                nets = trial
            i -= 1
    pruned = bisuna.Agent.from_networks(nets).to_bytes()
    compact = bisuna.Agent.from_networks([_without_idle_hidden(net) for net in nets]).to_bytes()
    if len(compact) < len(pruned) and still_perfect(compact):
        return compact
    return pruned if len(pruned) < len(agent) else agent
