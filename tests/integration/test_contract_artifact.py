"""The committed contract artifact is exactly what a fresh compile with the pinned solc produces."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

from services.common.chain import ARTIFACT_PATH, load_artifact

ROOT = Path(__file__).resolve().parents[2]


def _compile_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "contracts_compile", ROOT / "contracts" / "compile.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_artifact_matches_a_fresh_compile() -> None:
    fresh = _compile_module().build_marketplace()
    committed = ARTIFACT_PATH.read_text()
    assert committed == fresh, "contracts/build/EdgeMarketplace.json is stale: run `make contracts`"


def test_artifact_records_how_it_was_built() -> None:
    artifact = load_artifact()
    settings = json.loads((ROOT / "contracts" / "solc.json").read_text())
    assert artifact.compiler == settings["compiler"]
    assert artifact.settings["evmVersion"] == "paris"
    source = (ROOT / "contracts" / "EdgeMarketplace.sol").read_bytes()
    import hashlib

    assert (
        artifact.source_hashes["EdgeMarketplace.sol"] == "0x" + hashlib.sha256(source).hexdigest()
    )
    assert artifact.bytecode and artifact.deployed_bytecode


def _declared_events() -> dict[str, str]:
    """The event declarations fixed in docs/interfaces.md, whitespace-normalised."""
    text = (ROOT / "docs" / "interfaces.md").read_text()
    block = text.split("## The contract (`contracts/EdgeMarketplace.sol`) events, exactly", 1)[1]
    block = block.split("```solidity", 1)[1].split("```", 1)[0]
    lines = [line.split("//")[0] for line in block.splitlines()]
    declared = " ".join(" ".join(lines).split())
    out = {}
    for decl in declared.split(";"):
        decl = decl.strip()
        if decl.startswith("event "):
            name = decl[len("event ") :].split("(", 1)[0]
            out[name] = decl.replace("( ", "(").replace(" )", ")")
    return out


def test_events_are_exactly_those_in_interfaces_md() -> None:
    abi_events = {}
    for item in load_artifact().abi:
        if item["type"] != "event":
            continue
        params = ", ".join(
            f"{p['type']}{' indexed' if p['indexed'] else ''} {p['name']}" for p in item["inputs"]
        )
        abi_events[item["name"]] = f"event {item['name']}({params})"
    assert abi_events == _declared_events()
