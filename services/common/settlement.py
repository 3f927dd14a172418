"""Settling tasks on chain: after the reveal deadline requestSeed then sealSeed, after the evaluation
window finalize, then withdraw this account's credits. Any account may do it, so both the keeper
service and a solver (for its own tasks) use this; it reads the chain before each step, so running it
twice, or restarting it anywhere, never does anything twice."""

from __future__ import annotations

import threading

from services.common import chain
from services.common.logs import get_logger
from services.common.node import Node

log = get_logger("edgemarket.keeper")

BLOCKHASH_HORIZON = 256


class Keeper:
    """The settlement steps for every task on the chain, signed by the node's account."""

    def __init__(self, node: Node, *, tx_lock: threading.Lock | None = None) -> None:
        self.node = node
        # Shared with other threads signing for the same account (the scheduler's).
        self.tx_lock = tx_lock if tx_lock is not None else threading.Lock()
        self.market = node.market
        self._settled: set[int] = set()  # finalized or cancelled: nothing left to do

    def step(self) -> list[str]:
        """One pass over every task; returns what it did (for logs and tests)."""
        done: list[str] = []
        for task_id in range(1, self.market.task_count() + 1):
            if task_id in self._settled:
                continue
            try:
                done += self.tend(task_id)
            except chain.ContractError as exc:
                # Someone else moved first (another keeper, an impatient user): read again next pass.
                log.info("step raced", extra={"task_id": task_id, "error": str(exc)})
        done += self.withdraw()
        return done

    def tend(self, task_id: int) -> list[str]:
        task = self.market.get_task(task_id)
        if task.state != chain.OnChainTaskState.OPEN:
            self._settled.add(task_id)
            return []
        now = self.node.chain_now()
        done: list[str] = []
        if (
            now >= task.reveal_deadline
            and not task.seed_sealed
            and task.revealed_count > 0
            and now < task.eval_deadline
        ):
            number = self.node.block_number()
            if task.seed_block == 0 or number > task.seed_block + BLOCKHASH_HORIZON:
                self.market.request_seed(task_id)
                done.append(f"requestSeed {task_id}")
                log.info("seed requested", extra={"task_id": task_id})
            elif number >= task.seed_block:
                # The seed block is mined, so the block our transaction lands in can read its hash.
                self.market.seal_seed(task_id)
                done.append(f"sealSeed {task_id}")
                log.info("seed sealed", extra={"task_id": task_id})
        if now >= task.eval_deadline:
            self.market.finalize(task_id)
            self._settled.add(task_id)
            done.append(f"finalize {task_id}")
            log.info("finalized", extra={"task_id": task_id})
        return done

    def withdraw(self) -> list[str]:
        if self.node.account is None or self.market.credits(self.node.address) == 0:
            return []
        try:
            with self.tx_lock:
                tx = self.market.withdraw()
        except chain.NothingToWithdraw:
            return []
        amount = tx.event(chain.Withdrawn).amount
        log.info("credits withdrawn", extra={"account": self.node.address, "amount_wei": amount})
        return [f"withdraw {amount}"]
