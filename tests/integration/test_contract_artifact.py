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
