"""Connecting a service to the chain node: web3, the deployment, the signing account, chain time."""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.exceptions import Web3Exception

from services.common import keys
from services.common.chain import ChainError, Deployment, Marketplace
from services.common.settings import Settings


@dataclass(frozen=True)
class Node:
    """A bound marketplace, its deployment and (for services that send) the signing account."""

    market: Marketplace
    deployment: Deployment
    account: LocalAccount | None

    @property
    def w3(self) -> Web3:
        return self.market.w3

    @property
    def address(self) -> str:
        if self.account is None:
            raise keys.KeystoreError("this service has no signing key configured")
        return str(self.account.address)

    def chain_now(self) -> int:
        """The latest block's timestamp: a lower bound of the chain's clock, so an action gated
        on "now ≥ deadline" never fires early (it may wait one block). Never the wall clock: a
        dev chain moved by tests, or a node's clock, may disagree with it."""
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def next_block_time(self) -> int:
        """When the next block will be mined, as far as the node can tell: the pending block's
        timestamp where the node has one, else the latest block's. Deadlines a transaction sets
        count from here: on a chain that mines only on demand the latest block may be minutes
        old, and a deadline counted from it can already be past when the transaction lands."""
        latest = self.chain_now()
        try:
            pending = int(self.w3.eth.get_block("pending")["timestamp"])
        except (ValueError, KeyError, TypeError, Web3Exception):
            return latest  # a node without a pending block
        return max(latest, pending)

    def block_number(self) -> int:
        return int(self.w3.eth.block_number)

    def fresh(self) -> Node:
        """Another connection to the same contract (web3 sessions are not shared by threads)."""
        w3 = Web3(Web3.HTTPProvider(self.w3.provider.endpoint_uri, request_kwargs={"timeout": 30}))  # type: ignore[attr-defined]
        market = Marketplace(w3, self.market.address, self.account, self.market.artifact)
        return Node(market, self.deployment, self.account)


def connect(settings: Settings, *, signed: bool) -> Node:
    """Bind to the deployment named by the settings; with `signed`, load the service's key
    (keystore or EDGEMARKET_PRIVATE_KEY; anvil's dev keys only on chain 31337)."""
    w3 = Web3(Web3.HTTPProvider(settings.rpc_url, request_kwargs={"timeout": settings.rpc_timeout}))
    chain_id = int(w3.eth.chain_id)
    if settings.chain_id is not None and settings.chain_id != chain_id:
        raise ChainError(
            f"EDGEMARKET_CHAIN_ID is {settings.chain_id} but {settings.rpc_url} serves chain {chain_id}"
        )
    deployment = Deployment.load(settings.deployment_path(chain_id))
    account = keys.load_account(keys.key_source_of(settings), chain_id=chain_id) if signed else None
    market = Marketplace.from_deployment(w3, deployment, account)
    return Node(market, deployment, account)
