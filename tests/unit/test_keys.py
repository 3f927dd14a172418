"""Keystores round-trip, refuse bad passwords, and keep anvil's dev keys off real chains."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.common import keys

DEV_KEY_0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


def test_new_keystore_round_trips_and_is_private(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    acct = keys.new_keystore(path, "correct horse")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert acct.key.hex() not in path.read_text()
    back = keys.read_keystore(path, "correct horse")
    assert back.address == acct.address


def test_wrong_password_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    keys.new_keystore(path, "correct horse")
    with pytest.raises(keys.KeystoreError, match="wrong password"):
        keys.read_keystore(path, "battery staple")


def test_short_password_and_overwrite_refused(tmp_path: Path) -> None:
    with pytest.raises(keys.KeystoreError, match="8 characters"):
        keys.new_keystore(tmp_path / "a.json", "short")
    keys.new_keystore(tmp_path / "b.json", "long enough")
    with pytest.raises(keys.KeystoreError, match="already exists"):
        keys.new_keystore(tmp_path / "b.json", "long enough")


def test_dev_key_only_on_dev_chain(tmp_path: Path) -> None:
    acct = keys.import_keystore(tmp_path / "dev.json", DEV_KEY_0, "long enough", chain_id=31337)
    assert acct.address == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    with pytest.raises(keys.DevKeyRefused, match="31337"):
        keys.import_keystore(tmp_path / "dev2.json", DEV_KEY_0, "long enough", chain_id=365)
    src = keys.KeySource(keystore=tmp_path / "dev.json", keystore_password="long enough")
    assert keys.load_account(src, chain_id=31337).address == acct.address
    with pytest.raises(keys.DevKeyRefused):
        keys.load_account(src, chain_id=361)
    with pytest.raises(keys.DevKeyRefused):
        keys.load_account(keys.KeySource(private_key=DEV_KEY_0), chain_id=1)


def test_fresh_key_accepted_anywhere() -> None:
    from eth_account import Account

    fresh = Account.create()
    got = keys.load_account(keys.KeySource(private_key=fresh.key.hex()), chain_id=365)
    assert got.address == fresh.address


def test_bad_key_message_does_not_echo_it() -> None:
    with pytest.raises(keys.KeystoreError) as err:
        keys.account_from_private_key("0xdeadbeefnothex")
    assert "deadbeef" not in str(err.value)


def test_missing_configuration_says_what_to_set() -> None:
    with pytest.raises(keys.KeystoreError, match="EDGEMARKET_PRIVATE_KEY"):
        keys.load_account(keys.KeySource(), chain_id=31337)


def test_cli_new_and_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from services.cli.keys import app

    monkeypatch.setenv("EDGEMARKET_KEYSTORE_PASSWORD", "from the env")
    runner = CliRunner()
    res = runner.invoke(app, ["new", str(tmp_path / "n.json")])
    assert res.exit_code == 0, res.output
    address = res.output.split()[0]
    assert json.loads((tmp_path / "n.json").read_text())["address"].lower() == address[2:].lower()
    monkeypatch.setenv("EDGEMARKET_PRIVATE_KEY", DEV_KEY_0)
    res = runner.invoke(app, ["import", str(tmp_path / "i.json"), "--chain-id", "365"])
    assert res.exit_code != 0
    assert not (tmp_path / "i.json").exists()
    res = runner.invoke(app, ["import", str(tmp_path / "i.json"), "--chain-id", "31337"])
    assert res.exit_code == 0, res.output
    assert DEV_KEY_0[2:] not in res.output
