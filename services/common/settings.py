"""Typed settings of every service, read once from the environment (prefix EDGEMARKET_)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ANVIL_CHAIN_ID = 31337

# anvil's ten default accounts (mnemonic "test test ... junk"): published keys, so anyone can
# spend from them. They are fine on a local dev chain and a disaster anywhere else.
ANVIL_DEV_KEYS = frozenset(
    k.lower()
    for k in (
        "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
        "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
        "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
        "7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
        "47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
        "8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
        "92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
        "4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
        "dbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
        "2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
    )
)

_PLACEHOLDERS = frozenset({"", "changeme", "change-me", "secret", "password", "xxx", "todo"})


class SettingsError(ValueError):
    """A setting is missing or unsafe; the message says which and how to fix it."""


def is_anvil_dev_key(key: str) -> bool:
    """True if `key` (hex, with or without 0x) is one of anvil's published dev keys."""
    return key.lower().removeprefix("0x") in ANVIL_DEV_KEYS


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
