"""Leaderboard requests/s of the API (1 uvicorn worker, 1,000 solutions) against a bare Starlette ceiling,
and p99 of GET /tasks/1 while 50 event streams are open and 8 clients keep asking for renders.

Both servers run in the same run, on loopback, under the same load generator (wrk): the API
serves GET /tasks/1/leaderboard from a real SQLite projection filled through the projector;
the ceiling is a bare Starlette route returning the same JSON bytes. The API runs with the
deployed uvicorn limits (services.api.guard.uvicorn_limits).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_api(database_url: str, content_dir: str, port: int) -> None:
    import uvicorn

    from services.api.app import create_app
    from services.api.guard import uvicorn_limits
    from services.common.settings import Settings

    settings = Settings(database_url=database_url, content_store=f"file:{content_dir}", log_level="WARNING")
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning", access_log=False,
                **uvicorn_limits())


def serve_starlette(body_file: str, port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    body = Path(body_file).read_bytes()

    async def leaderboard(request: Request) -> Response:
        return Response(body, media_type="application/json")

    app = Starlette(routes=[Route("/tasks/1/leaderboard", leaderboard)])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def populate(database_url: str, content_dir: str, solutions: int) -> None:
    """A task with `solutions` committed, revealed, attested and verified solutions, via the
    projector; its spec in the content store (previews need it)."""
    from services.common.content import LocalContentStore
    from tests.integration.test_api import SPEC_BYTES, project, projection_messages

    project(database_url, projection_messages(task_id=1, solutions=solutions, verified_every=1))
    LocalContentStore(content_dir).put(SPEC_BYTES)


def under_load(api_url: str, seconds: int, streams: int = 50, renderers: int = 8) -> dict[str, float]:
    """p99 of GET /tasks/1 (wrk, 8 connections) while `streams` SSE streams stay open and
    `renderers` clients keep asking for previews and graphs of agents not yet rendered."""
    import threading

    stop = threading.Event()
    board = httpx.get(f"{api_url}/tasks/1/leaderboard").json()
    digests = [e["agent_digest"] for e in board["entries"] if e["agent_digest"]]
    counts = {"renders": 0, "render_errors": 0, "stream_events": 0}
    lock = threading.Lock()
    opened = threading.Barrier(streams + 1)

    def stream() -> None:
        with httpx.Client(timeout=None) as client, client.stream("GET", f"{api_url}/tasks/1/events") as r:
            opened.wait()
            for line in r.iter_lines():
                if line.startswith("event:"):
                    with lock:
                        counts["stream_events"] += 1
                if stop.is_set():
                    return

    def render(worker: int) -> None:
        with httpx.Client(timeout=120) as client:
            k = worker
            while not stop.is_set():
                digest = digests[k % len(digests)]
                kind = ("preview.png", "graph.svg")[k // len(digests) % 2]
                r = client.get(f"{api_url}/agents/{digest}/{kind}")
                with lock:
                    counts["renders" if r.status_code == 200 else "render_errors"] += 1
                k += renderers

    # The render workers start on the first render: start them before measuring.
    httpx.get(f"{api_url}/agents/{digests[-1]}/graph.dot", timeout=300).raise_for_status()
    threads = [threading.Thread(target=stream, daemon=True) for _ in range(streams)]
    for t in threads:
        t.start()
    opened.wait(60)
    threads += [threading.Thread(target=render, args=(i,), daemon=True) for i in range(renderers)]
    for t in threads[streams:]:
        t.start()
    time.sleep(2)  # the renders are under way
    try:
        result = wrk(f"{api_url}/tasks/1", 8, seconds)
    finally:
        stop.set()
    return {**result, **counts}


@contextlib.contextmanager
def server(argv: list[str], port: int) -> Iterator[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # a loaded machine imports slowly
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/tasks/1/leaderboard", timeout=2).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()  # reading stderr of a live server would block forever
                err = proc.communicate()[1].decode()
                raise RuntimeError(f"server did not start: {err[-2000:]}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    if not m:
        raise ValueError(f"cannot read latency {text!r}")
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def wrk(url: str, connections: int, seconds: int) -> dict[str, float]:
    exe = shutil.which("wrk")
    if exe is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    out = subprocess.run(
        [exe, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "--latency", url],
        capture_output=True, text=True, check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if errors:
        raise RuntimeError(f"{url}: {errors.group(1)} error responses under load")
    return {"rps": rps, "p50_ms": p50, "p99_ms": p99}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs (under 60 s in all)")
    parser.add_argument("--solutions", type=int, default=1000)
    parser.add_argument("--serve", choices=["api", "starlette"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--content", help=argparse.SUPPRESS)
    parser.add_argument("--body", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve == "api":
        serve_api(args.db, args.content, args.port)
        return
    if args.serve == "starlette":
        serve_starlette(args.body, args.port)
        return

    # Rounds alternate between the two servers so that a noisy neighbour hurts both alike;
    # each figure is the median over the rounds.
    seconds, rounds = (3, 1) if args.quick else (8, 3)
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        database_url = f"sqlite:///{tmp}/bench.db"
        populate(database_url, f"{tmp}/content", args.solutions)
        api_port, ceiling_port = free_port(), free_port()
        api_argv = [sys.executable, __file__, "--serve", "api", "--db", database_url,
                    "--content", f"{tmp}/content", "--port", str(api_port)]
        with server(api_argv, api_port) as api_url:
            body = httpx.get(f"{api_url}/tasks/1/leaderboard").content
            assert len(json.loads(body)["entries"]) == args.solutions
            Path(tmp, "body.json").write_bytes(body)
            ceiling_argv = [sys.executable, __file__, "--serve", "starlette", "--body", f"{tmp}/body.json",
                            "--port", str(ceiling_port)]
            with server(ceiling_argv, ceiling_port) as ceiling_url:
                urls = {"api": api_url, "starlette": ceiling_url}
                runs: dict[tuple[str, int], list[dict[str, float]]] = {}
                for _ in range(rounds):
                    for conns in (8, 64):
                        for name, url in urls.items():
                            runs.setdefault((name, conns), []).append(
                                wrk(f"{url}/tasks/1/leaderboard", conns, seconds)
                            )
            loaded = under_load(api_url, seconds)
    results: dict[str, dict[int, dict[str, float]]] = {}
    for (name, conns), samples in runs.items():
        results.setdefault(name, {})[conns] = {
            key: statistics.median(s[key] for s in samples) for key in ("rps", "p50_ms", "p99_ms")
        }

    print(f"GET /tasks/1/leaderboard, {args.solutions} solutions, {len(body)} bytes, 1 uvicorn worker, wrk -t1, {rounds} x {seconds} s")
    print(f"{'server':<12}{'conns':>6}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}")
    for name, by_conns in results.items():
        for conns, r in by_conns.items():
            print(f"{name:<12}{conns:>6}{r['rps']:>10.0f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}")
    rps = results["api"][64]["rps"]
    ratio = rps / results["starlette"][64]["rps"]
    print(f"GET /tasks/1 with 50 open event streams and 8 render clients: p50 {loaded['p50_ms']:.2f} ms, "
          f"p99 {loaded['p99_ms']:.2f} ms, {loaded['rps']:.0f} req/s; {loaded['renders']:.0f} renders served, "
          f"{loaded['render_errors']:.0f} refused, {loaded['stream_events']:.0f} events")
    print(json.dumps({
        "bench": "api",
        "p99_ms_task_under_load": round(loaded["p99_ms"], 2),
        "under_load": {"sse_streams": 50, "render_clients": 8, "renders": int(loaded["renders"]),
                       "render_errors": int(loaded["render_errors"])},
        "rps": round(rps, 1),
        "p99_ms_8conns": round(results["api"][8]["p99_ms"], 2),
        "solutions": args.solutions,
        "ratio_vs": {"starlette": round(ratio, 3)},
    }))


if __name__ == "__main__":
    main()
