"""`edgemarket contract deploy` against the session's anvil."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from typer.testing import CliRunner

from services.cli.main import app
from services.common.chain import Deployment, Marketplace, load_artifact
from services.common.settings import anvil_dev_keys, get_settings
from tests.fixtures.chain import Chain, start_anvil


@pytest.fixture
def cli_env(chain: Chain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    out = tmp_path / "deployments" / "31337.json"
    monkeypatch.setenv("EDGEMARKET_RPC_URL", chain.url)
    monkeypatch.setenv("EDGEMARKET_PRIVATE_KEY", "0x" + bytes(chain.accounts[5].key).hex())
    monkeypatch.setenv("EDGEMARKET_DEPLOYMENT_FILE", str(out))
    monkeypatch.delenv("EDGEMARKET_KEYSTORE", raising=False)
    get_settings.cache_clear()
    yield out
    get_settings.cache_clear()


def test_deploy_writes_the_deployment_file_and_is_idempotent(chain: Chain, cli_env: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["contract", "deploy"])
    assert result.exit_code == 0, result.output
    data = json.loads(cli_env.read_text())
    assert set(data) == {"address", "artifact_hash", "block_number", "chain_id", "tx_hash"}
    deployment = Deployment.load(cli_env)
    assert deployment.chain_id == 31337
    assert deployment.artifact_hash == load_artifact().hash
    mp = Marketplace.from_deployment(chain.w3, deployment)
    assert mp.task_count() == 0
    receipt = chain.w3.eth.get_transaction_receipt(deployment.tx_hash)
    assert receipt["from"] == chain.accounts[5].address
    assert receipt["blockNumber"] == deployment.block_number
    assert bytes(chain.accounts[5].key).hex() not in result.output

    again = runner.invoke(app, ["contract", "deploy"])
    assert again.exit_code == 0, again.output
    assert "already deployed" in again.output
    assert Deployment.load(cli_env) == deployment

    forced = runner.invoke(app, ["contract", "deploy", "--force"])
    assert forced.exit_code == 0, forced.output
    assert Deployment.load(cli_env).address != deployment.address


def test_deploy_without_a_key_says_how_to_configure_one(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EDGEMARKET_PRIVATE_KEY")
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["contract", "deploy"])
    assert result.exit_code == 1
    assert "EDGEMARKET_PRIVATE_KEY" in result.output
    assert not cli_env.exists()


def _dev_key_0() -> str:
    """anvil's first published dev key (funded by every anvil), taken from the settings' list."""
    return next(
        "0x" + k
        for k in anvil_dev_keys(10)
        if Account.from_key("0x" + k).address == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    )


def test_anvil_dev_keys_deploy_on_31337_only(
    chain: Chain, cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGEMARKET_PRIVATE_KEY", _dev_key_0())
    get_settings.cache_clear()
    ok = CliRunner().invoke(app, ["contract", "deploy"])
    assert ok.exit_code == 0, ok.output
    other = start_anvil(chain_id=365)  # Theta testnet's id
    try:
        out = cli_env.parent / "365.json"
        monkeypatch.setenv("EDGEMARKET_RPC_URL", other.url)
        monkeypatch.setenv("EDGEMARKET_DEPLOYMENT_FILE", str(out))
        get_settings.cache_clear()
        refused = CliRunner().invoke(app, ["contract", "deploy"])
        assert refused.exit_code == 1
        assert "public dev accounts" in " ".join(refused.output.split())
        assert not out.exists()
    finally:
        other.stop()
