"""Where the marketplace lives on a chain: deployments/<chainId>.json, deploying, and checking it."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from eth_utils.address import to_checksum_address

from services.common.chain.abi import Artifact, ErrorDecoder, load_artifact
from services.common.chain.errors import DeploymentError
from services.common.chain.transport import Signer, send_transaction

if TYPE_CHECKING:
    from web3 import Web3

DEPLOYMENTS_DIR = Path("deployments")


@dataclass(frozen=True)
class Deployment:
    """Where the marketplace lives on one chain: `deployments/<chainId>.json`."""

    chain_id: int
    address: str
    block_number: int
    tx_hash: str
    artifact_hash: str

    def save(self, path: Path | str | None = None) -> Path:
        """Write the deployment file (default `deployments/<chainId>.json`) and return its path."""
        path = Path(path) if path is not None else DEPLOYMENTS_DIR / f"{self.chain_id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def load(cls, path: Path | str) -> Deployment:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
            return cls(
                chain_id=int(data["chain_id"]),
                address=to_checksum_address(data["address"]),
                block_number=int(data["block_number"]),
                tx_hash=str(data["tx_hash"]),
                artifact_hash=str(data["artifact_hash"]),
            )
        except FileNotFoundError:
            raise DeploymentError(
                f"no deployment at {path}: run `edgemarket contract deploy` first, "
                "or point EDGEMARKET_DEPLOYMENT_FILE at the file"
            ) from None
        except (KeyError, ValueError, TypeError) as exc:
            raise DeploymentError(f"{path} is not a deployment file: {exc}") from None


def deploy(w3: Web3, signer: Signer, artifact: Artifact | None = None) -> Deployment:
    """Deploy the marketplace and return its Deployment (not yet saved)."""
    artifact = artifact or load_artifact()
    chain_id = w3.eth.chain_id
    if not isinstance(signer, str):
        from services.common.keys import check_chain  # eth-account, only to deploy

        check_chain(signer, chain_id)
    errors = ErrorDecoder(artifact.abi)
    receipt = send_transaction(
        w3, signer, to=None, data=artifact.bytecode, value=0, errors=errors, chain_id=chain_id
    )
    address = to_checksum_address(receipt["contractAddress"])
    if bytes(w3.eth.get_code(address)) != artifact.deployed_bytecode:
        raise DeploymentError(f"code at {address} differs from the artifact's deployed bytecode")
    return Deployment(
        chain_id=chain_id,
        address=address,
        block_number=int(receipt["blockNumber"], 16),
        tx_hash=str(receipt["transactionHash"]),
        artifact_hash=artifact.hash,
    )


def check_deployment(deployment: Deployment, chain_id: int, artifact: Artifact) -> Deployment:
    """`deployment` itself, after checking it is for this chain and built from this artifact."""
    if deployment.chain_id != chain_id:
        raise DeploymentError(
            f"deployment is for chain {deployment.chain_id}, the node is on {chain_id}"
        )
    if deployment.artifact_hash != artifact.hash:
        raise DeploymentError(
            f"deployment at {deployment.address} was built from artifact {deployment.artifact_hash}, "
            f"this checkout has {artifact.hash}: redeploy or check out the matching version"
        )
    return deployment
