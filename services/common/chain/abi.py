"""The compiled artifact and ABI plumbing: signatures, names, revert data to ContractError."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_abi.abi import decode as abi_decode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from services.common.chain.errors import (
    ERROR_CLASSES,
    ChainError,
    ContractError,
    Panic,
    revert_bytes,
)

if TYPE_CHECKING:
    from web3.exceptions import ContractLogicError

ROOT = Path(__file__).resolve().parents[3]
ARTIFACT_PATH = ROOT / "contracts" / "build" / "EdgeMarketplace.json"


def abi_type(param: Mapping[str, Any]) -> str:
    typ = str(param["type"])
    if typ.startswith("tuple"):
        inner = ",".join(abi_type(c) for c in param["components"])
        return f"({inner}){typ[len('tuple') :]}"
    return typ


def signature(item: Mapping[str, Any]) -> str:
    return f"{item['name']}({','.join(abi_type(p) for p in item['inputs'])})"


_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


def snake(name: str) -> str:
    """The Python name of an ABI name: `commitDeadline` -> `commit_deadline`."""
    return _CAMEL.sub(r"_\1", name).lower()


def normalize(typ: str, value: Any) -> Any:
    if typ == "address":
        return to_checksum_address(value)
    if typ.endswith("[]"):
        return tuple(normalize(typ[:-2], v) for v in value)
    return value


@dataclass(frozen=True)
class _Function:
    name: str
    selector: bytes
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    payable: bool


@dataclass(frozen=True)
class Artifact:
    """The committed compiler output: ABI, bytecode and how they were built."""

    abi: tuple[Mapping[str, Any], ...]
    bytecode: bytes
    deployed_bytecode: bytes
    compiler: str
    settings: Mapping[str, Any]
    source_hashes: Mapping[str, str]
    hash: str  # "0x" + sha256 of the artifact file's bytes

    def functions(self) -> dict[str, _Function]:
        out: dict[str, _Function] = {}
        for item in self.abi:
            if item.get("type") != "function":
                continue
            out[item["name"]] = _Function(
                name=item["name"],
                selector=keccak(text=signature(item))[:4],
                inputs=tuple(abi_type(p) for p in item["inputs"]),
                outputs=tuple(abi_type(p) for p in item["outputs"]),
                payable=item.get("stateMutability") == "payable",
            )
        return out


def load_artifact(path: Path | str = ARTIFACT_PATH) -> Artifact:
    """Read a compiled artifact written by contracts/compile.py."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ChainError(f"contract artifact {path} is missing: run `make contracts`") from None
    data = json.loads(raw)
    return Artifact(
        abi=tuple(data["abi"]),
        bytecode=bytes.fromhex(data["bytecode"][2:]),
        deployed_bytecode=bytes.fromhex(data["deployedBytecode"][2:]),
        compiler=data["compiler"],
        settings=data["settings"],
        source_hashes=data["sourceHashes"],
        hash="0x" + hashlib.sha256(raw).hexdigest(),
    )


class ErrorDecoder:
    """Maps revert data (selector + ABI-encoded arguments) to a ContractError subclass."""

    PANIC_SELECTOR = keccak(text="Panic(uint256)")[:4]

    def __init__(self, abi: Sequence[Mapping[str, Any]]) -> None:
        self._errors: dict[bytes, tuple[str, tuple[str, ...], tuple[str, ...]]] = {}
        for item in abi:
            if item.get("type") == "error":
                self._errors[keccak(text=signature(item))[:4]] = (
                    item["name"],
                    tuple(snake(p["name"]) for p in item["inputs"]),
                    tuple(abi_type(p) for p in item["inputs"]),
                )

    def decode(self, data: bytes) -> ContractError:
        selector, body = data[:4], data[4:]
        if selector == self.PANIC_SELECTOR:
            (code,) = abi_decode(["uint256"], body)
            return Panic("Panic", {"code": code})
        known = self._errors.get(selector)
        if known is None:
            return ContractError("revert", {"data": data})
        name, names, types = known
        values = abi_decode(list(types), body)
        fields = {n: normalize(t, v) for n, t, v in zip(names, types, values, strict=True)}
        return ERROR_CLASSES.get(name, ContractError)(name, fields)

    def from_web3(self, exc: ContractLogicError) -> ContractError:
        """The ContractError inside a web3.py revert exception (for calls made through web3)."""
        data = revert_bytes(exc.data)
        if data is not None:
            return self.decode(data)
        return ContractError("revert", {"message": exc.message or str(exc)})
