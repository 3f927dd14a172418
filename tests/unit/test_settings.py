"""Settings: environment, defaults, and refusing unsafe keys."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.common.settings import ANVIL_MNEMONIC, Settings, SettingsError, anvil_dev_keys

ANVIL_KEY0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
OTHER_KEY = "0x" + "11" * 32


def test_defaults(clean_env: None) -> None:
    s = Settings()
    assert s.rpc_url == "http://127.0.0.1:8545"
    assert s.stream == "edgemarket:events"
    assert s.reorg_depth == 64 and s.confirmations == 0 and not s.finalized_only
    assert s.effective_broker_url == s.redis_url
    assert str(s.deployment_path(31337)) == "deployments/31337.json"


def test_environment_prefix(clean_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEMARKET_CONFIRMATIONS", "3")
    monkeypatch.setenv("EDGEMARKET_REDIS_URL", "redis://10.0.0.2:6380/2")
    monkeypatch.setenv("EDGEMARKET_FINALIZED_ONLY", "true")
    s = Settings()
    assert (s.confirmations, s.redis_url, s.finalized_only) == (3, "redis://10.0.0.2:6380/2", True)


def test_anvil_key_only_on_dev_chain(clean_env: None) -> None:
    assert Settings(private_key=ANVIL_KEY0, chain_id=31337).private_key is not None
    with pytest.raises(ValidationError, match="anvil's public dev keys"):
        Settings(private_key=ANVIL_KEY0, chain_id=365)
    s = Settings(private_key=ANVIL_KEY0)  # chain id unknown until the node is asked
    with pytest.raises(SettingsError, match="refused on chain id 361"):
        s.check_key_for_chain(361)
    Settings(private_key=OTHER_KEY, chain_id=361).check_key_for_chain(361)


@pytest.mark.parametrize("index", [0, 9, 10, 11, 57, 999, 9_999])
def test_every_index_of_anvils_mnemonic_is_refused(clean_env: None, index: int) -> None:
    """anvil derives as many accounts as `--accounts` asks: the guard is not a list of ten."""
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    key = Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}").key
    with pytest.raises(ValidationError, match="anvil's public dev keys"):
        Settings(private_key=key.hex(), chain_id=1)
    assert Settings(private_key=key.hex(), chain_id=31337).private_key is not None


def test_the_guard_derives_anvils_first_keys() -> None:
    keys = anvil_dev_keys(10)
    assert ANVIL_KEY0.removeprefix("0x") in keys and len(keys) == 10


def test_secrets_not_echoed(clean_env: None) -> None:
    bad = "0x" + "zz" * 32
    with pytest.raises(ValidationError) as info:
        Settings(private_key=bad)
    assert "zzzz" not in str(info.value)
    assert OTHER_KEY[2:] not in repr(Settings(private_key=OTHER_KEY))
    with pytest.raises(ValidationError, match="placeholder"):
        Settings(keystore="k.json", keystore_password="changeme")


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("rpc_url", "ws://x", "http"),
        ("content_store", "s3://bucket", "file:"),
        ("confirmations", -1, "greater than or equal"),
        ("redis_url", "http://x", "redis://"),
        ("redis_url", "amqp://guest@x//", "redis://"),
        ("broker_url", "http://x", "RabbitMQ"),
    ],
)
def test_bad_values_say_why(clean_env: None, field: str, value: object, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        Settings(**{field: value})


@pytest.mark.parametrize(
    "url", ["redis://h:6379/0", "rediss://:pw@h:6380/0", "amqp://u:p@h/vh", "amqps://u:p@h/vh"]
)
def test_broker_takes_redis_or_rabbitmq(clean_env: None, url: str) -> None:
    assert Settings(broker_url=url).broker_url == url


def test_keys_exclusive(clean_env: None) -> None:
    with pytest.raises(ValidationError, match="either private_key or keystore"):
        Settings(private_key=OTHER_KEY, keystore="k.json", keystore_password="pw-long-enough")
    with pytest.raises(ValidationError, match="keystore_password"):
        Settings(keystore="k.json")
