"""Typed settings of every service, read once from the environment (prefix EDGEMARKET_)."""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ANVIL_CHAIN_ID = 31337

# anvil's accounts come from a published mnemonic: anyone can spend from them. Fine on a local
# dev chain, a disaster anywhere else. anvil derives as many as `--accounts` asks for, so the
# guard derives them too (BIP-32, path m/44'/60'/0'/0/i) rather than listing the default ten.
ANVIL_MNEMONIC = "test test test test test test test test test test test junk"
ANVIL_DEV_INDICES = 10_000
"""Indices of the mnemonic the guard refuses (0 .. ANVIL_DEV_INDICES - 1); derived once, on first use."""

_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HARDENED = 1 << 31


def _compressed_public(key: int) -> bytes:
    from eth_keys.datatypes import PrivateKey

    public: bytes = PrivateKey(key.to_bytes(32, "big")).public_key.to_compressed_bytes()
    return public


def _child(key: int, chain_code: bytes, index: int) -> tuple[int, bytes]:
    """BIP-32 private child derivation."""
    if index & _HARDENED:
        data = b"\x00" + key.to_bytes(32, "big") + index.to_bytes(4, "big")
    else:
        data = _compressed_public(key) + index.to_bytes(4, "big")
    out = hmac.new(chain_code, data, hashlib.sha512).digest()
    return (int.from_bytes(out[:32], "big") + key) % _SECP256K1_N, out[32:]


@lru_cache(maxsize=4)
def anvil_dev_keys(count: int = ANVIL_DEV_INDICES) -> frozenset[str]:
    """The private keys (lowercase hex, no 0x) at indices 0..count-1 of anvil's mnemonic."""
    seed = hashlib.pbkdf2_hmac("sha512", ANVIL_MNEMONIC.encode(), b"mnemonic", 2048)
    out = hmac.new(b"Bitcoin seed", seed, hashlib.sha512).digest()
    key, chain_code = int.from_bytes(out[:32], "big"), out[32:]
    for index in (44 | _HARDENED, 60 | _HARDENED, 0 | _HARDENED, 0):
        key, chain_code = _child(key, chain_code, index)
    # The last level is not hardened: one HMAC per index over the parent's public key.
    prefix = _compressed_public(key)
    keys = set()
    for i in range(count):
        step = hmac.new(chain_code, prefix + i.to_bytes(4, "big"), hashlib.sha512).digest()
        child = (int.from_bytes(step[:32], "big") + key) % _SECP256K1_N
        keys.add(f"{child:064x}")
    return frozenset(keys)


_PLACEHOLDERS = frozenset({"", "changeme", "change-me", "secret", "password", "xxx", "todo"})


class SettingsError(ValueError):
    """A setting is missing or unsafe; the message says which and how to fix it."""


def is_anvil_dev_key(key: str) -> bool:
    """True if `key` (hex, with or without 0x) is one of anvil's published dev keys (any of
    the first ANVIL_DEV_INDICES indices of its mnemonic)."""
    return key.lower().removeprefix("0x").rjust(64, "0") in anvil_dev_keys()


class Settings(BaseSettings):
    """Everything a service needs to know about its surroundings."""

    model_config = SettingsConfigDict(
        env_prefix="EDGEMARKET_", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    rpc_url: str = "http://127.0.0.1:8545"
    chain_id: int | None = None
    deployment_file: Path | None = None
    redis_url: str = "redis://127.0.0.1:6379/0"
    stream: str = "edgemarket:events"
    broker_url: str | None = None
    database_url: str = "sqlite:///.edgemarket/edgemarket.db"
    content_store: str = "file:.edgemarket/content"
    confirmations: Annotated[int, Field(ge=0, le=10_000)] = 0
    reorg_depth: Annotated[int, Field(ge=1, le=10_000)] = 64
    finalized_only: bool = False
    private_key: SecretStr | None = None
    keystore: Path | None = None
    keystore_password: SecretStr | None = None
    state_dir: Path = Path(".edgemarket")
    log_level: str = "INFO"
    # Indexer tuning: the block range of one eth_getLogs adapts between these bounds.
    index_min_range: Annotated[int, Field(ge=1)] = 1
    index_max_range: Annotated[int, Field(ge=1)] = 5_000
    poll_interval: Annotated[float, Field(gt=0, le=60)] = 0.05
    rpc_timeout: Annotated[float, Field(gt=0, le=600)] = 10.0
    # The evaluator's scoring processes: a slow agent occupies one, never the evaluator.
    evaluator_workers: Annotated[int, Field(ge=1, le=64)] = 2

    @field_validator("rpc_url")
    @classmethod
    def _http_rpc(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"rpc_url must be an http(s) URL of a JSON-RPC endpoint, got {v!r}")
        return v

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, v: str) -> str:
        if not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"expected a redis://, rediss:// or unix:// URL, got {v.split('@')[-1]!r}")
        return v

    @field_validator("broker_url")
    @classmethod
    def _broker_scheme(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(
            ("redis://", "rediss://", "unix://", "amqp://", "amqps://")
        ):
            raise ValueError(
                f"expected a Redis (redis://, rediss://) or RabbitMQ (amqp://, amqps://) URL, "
                f"got {v.split('@')[-1]!r}"
            )
        return v

    @field_validator("content_store")
    @classmethod
    def _content_store(cls, v: str) -> str:
        if not v.startswith(("file:", "kubo:")):
            raise ValueError(
                f"content_store must be 'file:<directory>' or 'kubo:<http url>', got {v!r}"
            )
        return v

    @field_validator("private_key", "keystore_password")
    @classmethod
    def _no_placeholder(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and v.get_secret_value().strip().lower() in _PLACEHOLDERS:
            raise ValueError("is a placeholder; set a real secret or leave it unset")
        return v

    @field_validator("private_key")
    @classmethod
    def _hex_key(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None:
            return v
        raw = v.get_secret_value().strip().lower().removeprefix("0x")
        if len(raw) != 64 or any(c not in "0123456789abcdef" for c in raw):
            # Never echo the value: it may be a real key with a typo.
            raise ValueError("must be 32 bytes of hex (64 hex digits, optional 0x)")
        return SecretStr("0x" + raw)

    @model_validator(mode="after")
    def _keys_consistent(self) -> Settings:
        if self.private_key is not None and self.keystore is not None:
            raise ValueError("set either private_key or keystore, not both")
        if self.keystore is not None and self.keystore_password is None:
            raise ValueError("keystore is set but keystore_password is not")
        if self.chain_id is not None:
            self.check_key_for_chain(self.chain_id)
        if self.index_min_range > self.index_max_range:
            raise ValueError("index_min_range must not exceed index_max_range")
        return self

    def check_key_for_chain(self, chain_id: int) -> None:
        """Refuse anvil's public dev keys anywhere but a local dev chain (31337)."""
        if (
            self.private_key is not None
            and chain_id != ANVIL_CHAIN_ID
            and is_anvil_dev_key(self.private_key.get_secret_value())
        ):
            raise SettingsError(
                f"EDGEMARKET_PRIVATE_KEY is one of anvil's public dev keys, refused on chain id "
                f"{chain_id}: anyone can spend from it. Use `edgemarket keys new` instead."
            )

    @property
    def effective_broker_url(self) -> str:
        """The Celery broker: broker_url, or the Redis URL when unset."""
        return self.broker_url or self.redis_url

    def deployment_path(self, chain_id: int) -> Path:
        """Where the deployment record of `chain_id` lives."""
        return self.deployment_file or Path("deployments") / f"{chain_id}.json"


class ApiSettings(Settings):
    """Common settings plus the API's own."""

    # FastAPI's native OpenTelemetry (spans, metrics, logs of each API request). Off unless
    # asked: no OpenTelemetry SDK ships with the project, and while it is on FastAPI looks up
    # the global providers (environment reads) on every request, found or not.
    api_telemetry: bool = False


class KeeperSettings(Settings):
    """Common settings plus the keeper's polling period (the solver, its own keeper, too)."""

    # Keeper and scheduler polling period (seconds).
    keeper_interval: Annotated[float, Field(gt=0, le=600)] = 2.0


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()
