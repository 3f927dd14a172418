"""bench/search.py's plan and summary (no search runs here): every run is planned once, the
longest caps first, peers only on the boolean tasks; an unsolved run counts as its own solver's
cap; `ratio_vs` keeps the issue's smallest-over-the-boolean-tasks figure and says apart where
a peer solves at all."""

from __future__ import annotations

from collections import Counter

from bench import search


def test_plan_runs_each_job_once_longest_cap_first() -> None:
    solvers = ["es", "suna", "neat-python", "deap"]
    jobs = search.plan(list(search.TASKS), solvers, 10, 1.0)
    keys = Counter((task, solver, seed) for task, solver, seed, _ in jobs)
    assert set(keys.values()) == {1}
    # the core's strategies on every task, the peers on the boolean ones only
    assert len(jobs) == 10 * (2 * len(search.TASKS) + 2 * len(search.BOOLEAN))
    assert {t for t, s, _, _ in jobs if s in search.PEERS} == set(search.BOOLEAN)
    caps = [cap for *_, cap in jobs]
    assert caps == sorted(caps, reverse=True)
    assert jobs[0][:2] == ("multiplexer-11", "es")
    # each solver's own budget: es the caps, the baselines their smaller ones
    assert {(t, s): c for t, s, _, c in jobs}[("multiplexer-11", "deap")] == 30.0
    assert {(t, s): c for t, s, _, c in jobs}[("parity-4", "suna")] == 6.0
    assert {(t, s): c for t, s, _, c in jobs}[("parity-4", "es")] == 60.0


def test_quick_caps_are_scaled() -> None:
    jobs = search.plan(["parity-3"], ["es", "deap"], 2, search.QUICK_SCALE)
    assert sorted({(s, c) for _, s, _, c in jobs}) == [("deap", 2.0), ("es", 12.0)]


def test_unsolved_runs_count_as_the_cap_and_the_budget_in_evaluations() -> None:
    s = search.summarise([(True, 100, 1.0), (False, 900, 9.0), (False, 1000, 10.0)], 10.0)
    assert s["solved"] == "1/3"
    assert s["cpu_s_median"] == 1.0
    assert s["cpu_s_median_capped"] == 10.0  # the 9-s run was cut short: it counts as 10 s
    assert s["cap_evals"] == 1000  # 2,000 evaluations in 20 CPU-s, times the 10-s cap


def _res(solved: str, capped: float, cap: float) -> dict[str, object]:
    return {
        "solved": solved,
        "evals_median": None,
        "cpu_s_median": None,
        "cpu_s_median_capped": capped,
        "cap_cpu_s": cap,
    }


def test_ratio_vs_smallest_over_the_tasks_and_where_the_peer_solves() -> None:
    results = {
        "multiplexer-6": {
            "cap_cpu_s": 60.0,
            "es": _res("10/10", 0.1, 60.0),
            "neat-python": _res("0/10", 10.0, 10.0),
            "deap": _res("6/10", 2.0, 10.0),
        },
        "multiplexer-11": {
            "cap_cpu_s": 300.0,
            "es": _res("9/10", 20.0, 300.0),
            "neat-python": _res("0/10", 30.0, 30.0),
            "deap": _res("0/10", 30.0, 30.0),
        },
    }
    line = search.summary_line(results, ["es", "neat-python", "deap"], 10)
    ratio = line["ratio_vs"]
    assert ratio["deap_per_task"] == {"multiplexer-6": 20.0, "multiplexer-11": 1.5}
    assert ratio["deap"] == 1.5  # the figure: unsolved runs count as the peer's cap
    assert ratio["deap_where_it_solves"] == 20.0  # the 10x target's tasks
    assert ratio["neat-python"] == 1.5
    assert ratio["neat-python_where_it_solves"] is None
    assert line["solved"] == {"multiplexer-6": "10/10", "multiplexer-11": "9/10"}
    assert line["caps_cpu_s"]["deap"] == {"multiplexer-6": 10.0, "multiplexer-11": 30.0}


def test_combined_parts_keep_our_caps() -> None:
    # A part whose first solver is a baseline (peers run apart) must not put its cap in ours.
    ours = {"cap_cpu_s": 300.0, "es": {**_res("10/10", 9.0, 300.0)}}
    peers = {"cap_cpu_s": 6.0, "deap": _res("0/10", 30.0, 30.0)}
    merged = {"multiplexer-11": {**ours, **peers}}
    line = search.summary_line(merged, ["es", "deap"], 10)
    assert line["cap_cpu_s_per_seed"] == {"multiplexer-11": 300.0}
