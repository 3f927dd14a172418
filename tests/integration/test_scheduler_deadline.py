"""The scheduler never keeps dispatching after the commit deadline (issue 11, finding 3), ported to
the market loop: with epochs that never come back (no worker drains the queue, as when the
workers cannot run the spec or are all gone), it keeps its islands busy and re-sends late
epochs until the commit deadline less its margin, then sends nothing more and retires the
task (at once, or once half the margin is left if it waits for epochs still out). Every epoch it queues, first copy or re-send, expires by that time, so no worker spends
time on it after the window has closed. Real anvil, real Redis broker; the broker's own queue
is read to see what was sent."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

import redis

from services.common.chain import Deployment, Marketplace
from services.common.content import LocalContentStore
from services.common.node import Node
from services.common.spec import parse_spec
from services.requester import create_task
from services.scheduler.celery_app import make_app
from services.scheduler.config import SolverSettings
from services.scheduler.private_store import PrivateAgents
from services.scheduler.reveals import RevealStore, SolverTaskState
from services.scheduler.service import Scheduler
from tests.fixtures.chain import ETHER, Chain
from tests.integration.test_scheduler_market import SLOW, announce

MARGIN = 30


def queued(client: redis.Redis, queue: str) -> list[float | None]:
    """The expiry (Unix time) of every epoch message waiting in the broker's queue."""
    out: list[float | None] = []
    for raw in client.lrange(queue, 0, -1):
        expires = json.loads(raw)["headers"].get("expires")
        out.append(None if expires is None else datetime.fromisoformat(expires).timestamp())
    return out


def test_dispatch_stops_at_the_commit_deadline_when_epochs_never_come_back(
    chain: Chain,
    marketplace_deployment: Deployment,
    redis_url: str,
    redis_prefix: str,
    tmp_path: Path,
) -> None:
    requester, solver, evaluator = chain.accounts[38], chain.accounts[39], chain.accounts[37]
    queue = redis_prefix + "evolve"
    settings = SolverSettings(
        redis_url=redis_url,
        queue=queue,
        private_prefix=redis_prefix + "private",
        islands=2,
        epoch_seconds=0.3,
        epoch_timeout=0.3,  # late at once: every turn re-sends
        commit_margin=MARGIN,
        keeper_interval=0.1,
    )
    content = LocalContentStore(tmp_path / "content")
    created = create_task(
        Node(
            Marketplace.from_deployment(chain.w3, marketplace_deployment, requester),
            marketplace_deployment,
            requester,
        ),
        content, parse_spec(json.dumps(SLOW)), bounty=ETHER, evaluators=[evaluator.address],
        commit_seconds=600, reveal_seconds=600, commit_bond=ETHER // 10,
    )  # fmt: skip
    node = Node(
        Marketplace.from_deployment(chain.w3, marketplace_deployment, solver),
        marketplace_deployment,
        solver,
    )
    s = Scheduler(
        settings,
        node,
        RevealStore(tmp_path / "state.sqlite"),
        content,
        make_app(settings),
        PrivateAgents(redis.Redis.from_url(redis_url), settings.private_prefix, 600),
    )
    client = redis.Redis.from_url(redis_url)
    announce(s, created.task_id)
    stop_at = created.commit_deadline - MARGIN

    def turns(n: int) -> None:
        for _ in range(n):
            s.work_step()

    turns(3)
    first = len(queued(client, queue))
    assert first >= 2  # both islands' epochs, sent while the window is open
    # 20 s of chain time before the deadline less the margin: late epochs are sent again, and
    # each copy expires by then.
    chain.travel_to(stop_at - 20)
    turns(3)
    before = queued(client, queue)
    assert len(before) > first  # re-sent: the scheduler does not give up early
    assert None not in before, "an epoch queued with no expiry outlives the commit window"
    # The broker's list is newest first: these went out with 20 s of the window left.
    resent = before[: len(before) - first]
    horizon = time.time() + 20 + 5  # sent before now, + what was left of the window, + slack
    assert all(e is not None and e <= horizon for e in resent), (resent, horizon)
    # From the deadline less the margin nothing more is sent, not even a late copy; the task
    # is retired with its epochs still out, by the time half the margin is left at the latest.
    chain.travel_to(stop_at)
    turns(3)
    assert len(queued(client, queue)) == len(before)
    chain.travel_to(created.commit_deadline - MARGIN // 2)
    turns(3)
    assert s.live == {}
    assert len(queued(client, queue)) == len(before)
    rec = s.store.task(created.task_id)
    assert rec is not None and rec.state == SolverTaskState.DONE
    assert "nothing committed" in rec.reason
