"""The commit thread's mailbox: per task only the newest proposal waits, the most urgent
task goes first, and a retired task's closing is never lost to a later proposal."""

from __future__ import annotations

from services.scheduler.islands import Candidate
from services.scheduler.service import CommitMailbox, Proposal


def p(task_id: int, score: int, deadline: int = 100, final: str = "") -> Proposal:
    return Proposal(task_id, Candidate(b"a", score, 0), 10, deadline, deadline + 10, final)


def test_the_newest_proposal_of_a_task_replaces_one_not_yet_sent() -> None:
    box = CommitMailbox()
    box.put(p(1, 10))
    box.put(p(1, 20))
    assert box.pending() == 1
    got = box.take(timeout=0)
    assert got is not None and got.candidate is not None and got.candidate.fitness == 20
    assert box.pending() == 1  # being sent: still counted until done
    box.done(got)
    assert box.pending() == 0 and box.take(timeout=0) is None


def test_the_task_whose_window_closes_first_goes_first() -> None:
    box = CommitMailbox()
    box.put(p(1, 10, deadline=300))
    box.put(p(2, 10, deadline=200))
    box.put(p(3, 10, deadline=250))
    order = []
    while (got := box.take(timeout=0)) is not None:
        order.append(got.task_id)
        box.done(got)
    assert order == [2, 3, 1]


def test_a_closing_task_stays_closing() -> None:
    box = CommitMailbox()
    box.put(p(1, 10, final="commit window closing"))
    box.put(p(1, 30))  # a late improvement of the same task: sent, and the task still closed
    got = box.take(timeout=0)
    assert got is not None and got.final == "commit window closing"
    assert got.candidate is not None and got.candidate.fitness == 30
