"""services.common.chain: light to import, one error hierarchy."""

from __future__ import annotations

import subprocess
import sys

import services.common.chain as chain


def test_importing_the_bindings_loads_neither_web3_nor_eth_account() -> None:
    # The API and the spec parser import the protocol's rules; they must not pay for web3.
    code = (
        "import sys\n"
        "import services.common.chain, services.common.spec\n"
        "print(sorted(m for m in ('web3', 'eth_account') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_one_error_hierarchy_for_chain_and_node_trouble() -> None:
    for cls in (
        chain.DeploymentError,
        chain.RpcError,
        chain.RpcUnavailableError,
        chain.LogDecodeError,
        chain.UnsupportedAbiError,
    ):
        assert issubclass(cls, chain.ChainError), cls
    # The fast decoder's errors stay ValueErrors, as the indexer's loop expects.
    assert issubclass(chain.LogDecodeError, ValueError)
    err = chain.RpcError("eth_getLogs", {"code": -32005, "message": "block range too large"})
    assert (
        err.range_too_large
        and str(err) == "eth_getLogs failed: block range too large (code -32005)"
    )
