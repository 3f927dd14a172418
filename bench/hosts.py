"""Generations/s of a fixed task with 2 workers on 2 separate hosts against 2 workers on the
solver's own host, in the same run; the same with 50 ms and 1 % loss on the worker links; and
how long a worker host takes, once its cable is back, to finish an epoch again (`rejoin_s`).

The hosts are network namespaces on a bridge (tests/fixtures/hosts.py), set up as the README
tells a user: the solver's Redis with a password and TLS only, `rediss://` URLs with the test
CA, the content store over HTTP. Six ways to run the same epochs, each with 2 workers:
- same-host: on the solver's host;
- separate: on 2 hosts wired to the bridge by veth pairs (the kernel's path, like a LAN);
- separate-userspace-link: on 2 hosts wired by the userspace cable of tests/fixtures/linkd.py
  (this kernel has no netem, so impairment needs that cable), unimpaired: its own cost;
- separate-netem: the same cables with 50 ms each way and 1 % loss each way;
- same-host-sized and separate-netem-sized: the first and the last again with epochs sized
  as the scheduler sizes them, `EDGEMARKET_EPOCH_SECONDS` (10 s) of work at the speed a
  calibration round measured (4 of them a round): the far link costs a fixed number of round
  trips per epoch (about six), so its share depends on how long an epoch runs, and a fixed
  120 generations last 0.3 s on an idle machine, 2 s on a busy one.
`ratio_vs['same-host-netem']` is the sized pair (the scheduler's epochs), and
`ratio_vs['same-host-netem-120-generations']` the fixed one.
The machine is shared, so the configurations run interleaved, round after round, and each
reports its best round (the least disturbed one) and its median. An epoch here is what the
scheduler sends an island: 120 generations of its carried population of 32 (read from the
solver's private store by digest, the evolved population written back), a fraction of a
second to two seconds of work depending on the machine's load; the scheduler's own epochs
last `EDGEMARKET_EPOCH_SECONDS` (10 s), so the far link weighs less on them than here.

Needs root. Ends with one JSON line: {"bench": "hosts", ..., "ratio_vs": {"same-host": ...,
"same-host-netem": ...}, "rejoin_s": ...}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SPEC: dict[str, Any] = {
    "schema": "edgemarket/task@1",
    "scorer": "bisuna-core/1",
    "env": {"name": "cipher", "params": {"payload_words": 1, "mix": "xor"}},
    "eval": {"samples": 512},
    "budget": {"population": 32, "generations": 1200, "islands": 2, "epoch_generations": 120},
    "limits": {"max_neurons": 256, "max_connections": 2048, "max_agent_bytes": 24576},
    "title": "hosts bench",
}
SAME_QUEUE = "bench.same-host"
SIZED_EPOCHS = 4  # per round of the "-sized" modes
FAR_QUEUE = "bench.separate"


def _round(
    app: Any,
    queue: str,
    spec_cid: str,
    epochs: int,
    generations: int,
    seed: int,
    carried: list[str],
) -> tuple[float, float]:  # Any: Celery
    """Generations/s of `epochs` epochs sent at once to `queue` and gathered, and the time per
    epoch the 2 workers spent not evolving (wall x 2 - compute, over epochs): the cost of the
    path to Redis, less sensitive than the rate to how much CPU the machine's neighbours take.
    Each epoch is what the scheduler sends an island: its carried population by digest (read
    from the private store), the evolved population written back (`carry`)."""
    from services.scheduler.tasks import EVOLVE_EPOCH

    started = time.perf_counter()
    results = [
        app.send_task(
            EVOLVE_EPOCH,
            args=[spec_cid, str(seed * 1000 + i), i, generations, carried, 2, "suna", True],
            queue=queue,
        )
        for i in range(epochs)
    ]
    compute = 0.0
    for r in results:
        compute += float(r.get(timeout=600)["compute_seconds"])
        r.forget()
    wall = time.perf_counter() - started
    return epochs * generations / wall, max(0.0, (2 * wall - compute) / epochs)


def _seconds_per_generation(
    app: Any, queue: str, spec_cid: str, carried: list[str]
) -> float:  # Any: Celery
    """The workers' compute time per generation over 2 epochs of 120 generations, as the
    scheduler measures it (compute_seconds / generations)."""
    from services.scheduler.tasks import EVOLVE_EPOCH

    results = [
        app.send_task(
            EVOLVE_EPOCH,
            args=[spec_cid, str(77 + i), i, 120, carried, 2, "suna", True],
            queue=queue,
        )
        for i in range(2)
    ]
    values = [r.get(timeout=600) for r in results]
    return max(float(v["compute_seconds"]) / int(v["generations"]) for v in values)


def _rejoin(market: Any, app: Any, spec_cid: str, hold: float) -> float:  # Any: Market, Celery
    """Cut worker-1's cable while it runs an epoch, restore it after `hold` s, and time until
    an epoch finished by worker-1 comes back, the queue kept fed all along."""
    from services.scheduler.tasks import EVOLVE_EPOCH
    from tests.fixtures.hosted_market import wait_log

    host, worker = market.hosts["worker-1"], market.procs["worker-1"]
    pid = worker.pid
    mark = len(worker.log_text())
    pending = [
        app.send_task(EVOLVE_EPOCH, args=[spec_cid, str(9000 + i), i, 200, [], 2]) for i in range(4)
    ]
    wait_log(worker, "evolve_epoch", 120, after=mark)
    host.link_down()
    try:
        time.sleep(hold)
    finally:
        host.link_up()
    back = time.perf_counter()
    sent = 4
    deadline = back + 300
    while time.perf_counter() < deadline:
        for r in list(pending):
            if r.ready():
                pending.remove(r)
                if r.successful() and str(r.result["worker"]).startswith(f"edgemarket-{pid}@"):
                    return time.perf_counter() - back
        while len(pending) < 4:
            pending.append(
                app.send_task(EVOLVE_EPOCH, args=[spec_cid, str(9000 + sent), sent, 40, [], 2])
            )
            sent += 1
        time.sleep(0.05)
    raise RuntimeError("worker-1 did not finish an epoch within 300 s of its link coming back")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds, under 3 minutes")
    args = ap.parse_args()
    rounds = 2 if args.quick else 5
    epochs, generations = (4, 120) if args.quick else (12, 120)

    from services.common.content import KuboContentStore
    from services.common.spec import parse_spec
    from services.scheduler.celery_app import make_app
    from services.scheduler.config import SolverSettings
    from services.scheduler.islands import sized_epoch
    from services.scheduler.private_store import PrivateAgents
    from services.scheduler.tasks import run_epoch
    from tests.fixtures.hosted_market import EDGEMARKET, start_market, wait_log, worker_env

    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="edgemarket-bench-hosts-") as tmp:
        gen = start_market(Path(tmp), rival=False, evaluators=False, chain_services=False)
        market = next(gen)
        try:
            solver = market.hosts["solver"]
            started = []
            for n in (1, 2):
                # two workers on the solver's own host, on a queue of their own
                env = {**worker_env(market, solver), "EDGEMARKET_QUEUE": SAME_QUEUE}
                argv = [EDGEMARKET, "worker", "--concurrency", "1"]
                started.append(market.start(solver, f"same-{n}", argv, env))
                # two worker hosts wired by the kernel (veth), like machines on a LAN
                far = market.network.add_host(f"far-{n}")
                env = {**worker_env(market, far), "EDGEMARKET_QUEUE": FAR_QUEUE}
                started.append(market.start(far, f"far-{n}", argv, env))
            for process in [market.procs["worker-1"], market.procs["worker-2"], *started]:
                wait_log(process, "ready.", 180)
            content = KuboContentStore(market.content_url)
            spec = parse_spec(json.dumps(SPEC).encode())
            spec_cid = content.put(spec.to_bytes())
            content.close()
            settings = SolverSettings(redis_url=market.operator_redis_url)
            app = make_app(settings)
            # an island's population, in the solver's private store as the scheduler keeps it
            private = PrivateAgents(market.redis(), settings.private_prefix, settings.private_ttl)
            carried = run_epoch(spec, 1, 2, [], 2, carry=private)["population"]
            remote_queue = "edgemarket.evolve"
            workers = [market.hosts["worker-1"], market.hosts["worker-2"]]
            # warm up: specs cached, pools forked, connections open
            _round(app, SAME_QUEUE, spec_cid, 2, 5, 0, carried)
            _round(app, remote_queue, spec_cid, 2, 5, 0, carried)
            modes = (
                "same-host",
                "separate",
                "separate-userspace-link",
                "separate-netem",
                "same-host-sized",
                "separate-netem-sized",
            )
            gps: dict[str, list[float]] = {m: [] for m in modes}
            idle: dict[str, list[float]] = {m: [] for m in modes}
            _round(app, FAR_QUEUE, spec_cid, 2, 5, 0, carried)
            # the workers' hard limit per epoch (worker_env): a sized epoch stays below half
            limit = float(worker_env(market, solver)["EDGEMARKET_EPOCH_TIME_LIMIT"])
            speeds: list[float] = []
            sizes: list[int] = []
            timings["setup_s"] = time.perf_counter() - t0
            for r in range(rounds):
                # the scheduler's epoch size for this task at this round's speed (the machine's
                # load changes from minute to minute)
                speeds.append(_seconds_per_generation(app, SAME_QUEUE, spec_cid, carried))
                sized = sized_epoch(
                    speeds[-1],
                    target_seconds=settings.epoch_seconds,
                    seconds_left=3600,
                    time_limit=limit,
                    largest=10**6,  # a task well under way: its epochs have grown to the target
                )
                sizes.append(sized)
                turn = r % len(modes)
                for mode in modes[turn:] + modes[:turn]:  # no mode always runs first
                    queue = {
                        "same-host": SAME_QUEUE,
                        "same-host-sized": SAME_QUEUE,
                        "separate": FAR_QUEUE,
                    }.get(mode, remote_queue)
                    n, g = (
                        (SIZED_EPOCHS, sized)
                        if mode.endswith("-sized")
                        else (
                            epochs,
                            generations,
                        )
                    )
                    if mode.startswith("separate-netem"):
                        for w in workers:
                            w.impair(delay_ms=50, loss=0.01)
                    try:
                        rate, overhead = _round(app, queue, spec_cid, n, g, r, carried)
                        gps[mode].append(rate)
                        idle[mode].append(overhead)
                    finally:
                        for w in workers:
                            w.impair(0, 0)
            for name in ("same-1", "same-2", "far-1", "far-2"):
                market.procs.pop(name).stop()  # the rejoin needs only the two worker hosts
            timings["rounds_s"] = time.perf_counter() - t0 - timings["setup_s"]
            rejoin = _rejoin(market, app, spec_cid, hold=3.0 if args.quick else 15.0)
            market.check_alive()
        finally:
            gen.close()

    best = {k: max(v) for k, v in gps.items()}
    median = {k: statistics.median(v) for k, v in gps.items()}
    print(
        json.dumps(
            {
                "bench": "hosts",
                "quick": args.quick,
                "rounds": rounds,
                "epochs_per_round": epochs,
                "generations_per_epoch": generations,
                "sized_epochs": {
                    "epochs_per_round": SIZED_EPOCHS,
                    "generations_median": statistics.median(sizes),
                    "target_s": settings.epoch_seconds,
                    "s_per_generation_median": round(statistics.median(speeds), 5),
                },
                "workers": 2,
                "carried_agents": len(carried),
                "generations_per_s": {k: round(v, 1) for k, v in best.items()},
                "generations_per_s_median": {k: round(v, 1) for k, v in median.items()},
                "not_evolving_ms_per_epoch_median": {
                    k: round(1000 * statistics.median(v)) for k, v in idle.items()
                },
                "impairment": "50 ms each way and 1 % loss each way on both worker links "
                "(userspace link: no netem in this kernel)",
                "ratio_vs": {
                    "same-host": round(best["separate"] / best["same-host"], 3),
                    "same-host-netem": round(
                        best["separate-netem-sized"] / best["same-host-sized"], 3
                    ),
                    "same-host-netem-120-generations": round(
                        best["separate-netem"] / best["same-host"], 3
                    ),
                    "same-host-userspace-link": round(
                        best["separate-userspace-link"] / best["same-host"], 3
                    ),
                },
                "rejoin_s": round(rejoin, 2),
                "rejoin_hold_s": 3.0 if args.quick else 15.0,
                "seconds": {
                    **{k: round(v, 1) for k, v in timings.items()},
                    "total": round(time.perf_counter() - t0, 1),
                },
            }
        )
    )


if __name__ == "__main__":
    main()
