"""The keeper service: a pass of the settlement steps (services.common.settlement) over every task,
every keeper_interval seconds, until told to stop."""

from __future__ import annotations

import threading

from web3.exceptions import Web3Exception

from services.common import chain
from services.common.logs import configure_logging, get_logger
from services.common.node import connect
from services.common.process import run_loop, stop_event
from services.common.settings import KeeperSettings
from services.common.settlement import Keeper

log = get_logger("edgemarket.keeper")


def run(settings: KeeperSettings | None = None, *, stop: threading.Event | None = None) -> None:
    """`edgemarket run keeper`: a pass over the chain every keeper_interval seconds, until
    SIGTERM/SIGINT (or `stop`); a lost node is retried with backoff."""
    settings = settings or KeeperSettings()
    configure_logging(settings.log_level)
    stop = stop_event(stop)
    keeper = Keeper(connect(settings, signed=True))
    log.info("keeper up", extra={"account": keeper.node.address})

    def one_pass() -> None:
        keeper.step()

    run_loop(
        "keeper pass",
        one_pass,
        stop,
        interval=settings.keeper_interval,
        retry_on=(chain.ChainError, chain.ContractError, OSError, Web3Exception),
        log=log,
    )
