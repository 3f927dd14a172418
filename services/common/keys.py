"""Signing keys: encrypted keystores (eth-account v3 JSON) and the anvil dev-key guard."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from services.common.json_input import JsonObject
from services.common.settings import ANVIL_CHAIN_ID, is_anvil_dev_key


class KeystoreError(ValueError):
    """A key or keystore problem a user can fix; the message says how."""


class DevKeyRefused(KeystoreError):
    """A public anvil dev key was offered for a chain other than the local dev chain."""


@dataclass(frozen=True)
class KeySource:
    """Where a service's signing key comes from: a raw key or a keystore and its password."""

    private_key: str | None = None
    keystore: Path | None = None
    keystore_password: str | None = None


def is_dev_key(account: LocalAccount) -> bool:
    """One of anvil's published dev keys (anyone can spend from them)."""
    return is_anvil_dev_key(account.key.hex())


def check_chain(account: LocalAccount, chain_id: int | None) -> None:
    """Refuse anvil's public dev keys anywhere but chain id 31337."""
    if chain_id != ANVIL_CHAIN_ID and is_dev_key(account):
        raise DevKeyRefused(
            f"{account.address} is one of anvil's public dev accounts: its key is published, "
            f"so it is accepted only on chain id {ANVIL_CHAIN_ID} (this is chain id {chain_id}). "
            "Create a key with `edgemarket keys new` and fund it."
        )


def account_from_private_key(private_key: str) -> LocalAccount:
    key = private_key.strip()
    if not key.startswith("0x"):
        key = "0x" + key
    try:
        acct: LocalAccount = Account.from_key(key)
    except (ValueError, TypeError) as exc:
        # Never echo the key itself: it may be a real secret with a typo.
        raise KeystoreError(
            "the private key is not 32 bytes of hex (0x followed by 64 hex digits)"
        ) from exc
    return acct


def encrypt(account: LocalAccount, password: str) -> JsonObject:
    if len(password) < 8:
        raise KeystoreError("the keystore password must have at least 8 characters")
    keystore: JsonObject = Account.encrypt(account.key, password, kdf="scrypt")
    return keystore


def write_keystore(path: Path, keystore: JsonObject, *, overwrite: bool = False) -> None:
    """Write a keystore readable by its owner only; never silently replace an existing key."""
    if path.exists() and not overwrite:
        raise KeystoreError(f"{path} already exists; choose another path or remove it first")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(keystore, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def new_keystore(path: Path, password: str) -> LocalAccount:
    """Create a fresh random key and store it encrypted at `path`."""
    account: LocalAccount = Account.create()
    write_keystore(path, encrypt(account, password))
    return account


def import_keystore(
    path: Path, private_key: str, password: str, *, chain_id: int | None
) -> LocalAccount:
    """Encrypt an existing key into a keystore; dev keys only for the dev chain."""
    account = account_from_private_key(private_key)
    check_chain(account, chain_id)
    write_keystore(path, encrypt(account, password))
    return account


def read_keystore(path: Path, password: str) -> LocalAccount:
    try:
        keystore = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise KeystoreError(
            f"keystore {path} does not exist; create it with `edgemarket keys new`"
        ) from exc
    except json.JSONDecodeError as exc:
        raise KeystoreError(f"keystore {path} is not JSON: {exc.msg}") from exc
    try:
        key = Account.decrypt(keystore, password)
    except ValueError as exc:
        raise KeystoreError(
            f"cannot decrypt keystore {path}: wrong password or damaged file"
        ) from exc
    return account_from_private_key(key.hex())


def load_account(source: KeySource, *, chain_id: int | None) -> LocalAccount:
    """The signing account a service uses, from a raw key or a keystore, checked for the chain."""
    if source.private_key:
        account = account_from_private_key(source.private_key)
    elif source.keystore is not None:
        if source.keystore_password is None:
            raise KeystoreError(
                f"keystore {source.keystore} needs its password: set EDGEMARKET_KEYSTORE_PASSWORD"
            )
        account = read_keystore(source.keystore, source.keystore_password)
    else:
        raise KeystoreError(
            "no signing key configured: set EDGEMARKET_KEYSTORE (and EDGEMARKET_KEYSTORE_PASSWORD) "
            "or EDGEMARKET_PRIVATE_KEY"
        )
    check_chain(account, chain_id)
    return account


def key_source_of(settings: object) -> KeySource:
    """Read the key fields of a `Settings` (private_key, keystore, keystore_password)."""

    def secret(name: str) -> str | None:
        value = getattr(settings, name, None)
        if value is None:
            return None
        getter = getattr(value, "get_secret_value", None)
        return str(getter()) if getter is not None else str(value)

    keystore = getattr(settings, "keystore", None)
    return KeySource(
        private_key=secret("private_key"),
        keystore=Path(keystore) if keystore else None,
        keystore_password=secret("keystore_password"),
    )
