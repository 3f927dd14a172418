"""Compile the contracts with the pinned solc (npm, JS API) into reproducible JSON artifacts."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

CONTRACTS_DIR = Path(__file__).resolve().parent
ROOT = CONTRACTS_DIR.parent
SETTINGS_FILE = CONTRACTS_DIR / "solc.json"
BUILD_DIR = CONTRACTS_DIR / "build"
MAIN_SOURCE = "EdgeMarketplace.sol"

# solcjs's CLI prints a banner on stdout before its JSON; the JS API does not.
_NODE_COMPILE = (
    "const solc = require('solc');"
    "const input = require('fs').readFileSync(0, 'utf8');"
    "process.stdout.write(JSON.stringify({version: solc.version(), output: JSON.parse(solc.compile(input))}));"
)


class CompileError(RuntimeError):
    """solc refused the sources, or the pinned compiler is not the one installed."""


def load_settings() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SETTINGS_FILE.read_text())
    return data


def compile_sources(
    sources: dict[str, str], contract_names: list[str] | None = None
) -> dict[str, dict[str, Any]]:
    """Compile `sources` (file name -> Solidity text) with the pinned compiler and settings.

    Returns one artifact per contract: name, abi, bytecode, deployedBytecode, compiler,
    settings, and the sha256 of each source it was built from.
    """
    pinned = load_settings()
    settings = dict(pinned["settings"])
    settings["outputSelection"] = {
        "*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}
    }
    standard_input = {
        "language": "Solidity",
        "sources": {name: {"content": text} for name, text in sorted(sources.items())},
        "settings": settings,
    }
    node_modules = ROOT / "node_modules"
    if not (node_modules / "solc").is_dir():
        raise CompileError(f"solc is not installed in {node_modules}: run `npm install` in {ROOT}")
    env = dict(os.environ, NODE_PATH=str(node_modules))
    proc = subprocess.run(
        ["node", "-e", _NODE_COMPILE],
        input=json.dumps(standard_input),
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise CompileError(f"node/solc failed: {proc.stderr.strip()}")
    result = json.loads(proc.stdout)
    if result["version"] != pinned["compiler"]:
        raise CompileError(
            f"installed solc is {result['version']}, contracts/solc.json pins {pinned['compiler']}: "
            "run `npm install` (package.json pins the same version)"
        )
    output = result["output"]
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise CompileError(
            "\n".join(e.get("formattedMessage", e.get("message", "?")) for e in errors)
        )
    source_hashes = {
        name: "0x" + hashlib.sha256(text.encode()).hexdigest()
        for name, text in sorted(sources.items())
    }
    artifacts: dict[str, dict[str, Any]] = {}
    for file_name, contracts in output.get("contracts", {}).items():
        for name, data in contracts.items():
            if contract_names is not None and name not in contract_names:
                continue
            artifacts[name] = {
                "contractName": name,
                "sourceName": file_name,
                "abi": data["abi"],
                "bytecode": "0x" + data["evm"]["bytecode"]["object"],
                "deployedBytecode": "0x" + data["evm"]["deployedBytecode"]["object"],
                "compiler": result["version"],
                "settings": pinned["settings"],
                "sourceHashes": source_hashes,
            }
    return artifacts


def render(artifact: dict[str, Any]) -> str:
    """The artifact's canonical text: sorted keys, two-space indent, final newline."""
    return json.dumps(artifact, indent=2, sort_keys=True) + "\n"


def build_marketplace() -> str:
    """Compile EdgeMarketplace.sol and return its artifact's canonical text."""
    source = (CONTRACTS_DIR / MAIN_SOURCE).read_text()
    artifacts = compile_sources({MAIN_SOURCE: source}, ["EdgeMarketplace"])
    return render(artifacts["EdgeMarketplace"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="fail if the committed artifact differs"
    )
    args = parser.parse_args(argv)
    target = BUILD_DIR / "EdgeMarketplace.json"
    try:
        text = build_marketplace()
    except CompileError as exc:
        print(f"compile failed: {exc}", file=sys.stderr)
        return 1
    if args.check:
        if not target.exists() or target.read_text() != text:
            print(f"{target} is stale: run `make contracts` and commit it", file=sys.stderr)
            return 1
        print(f"{target} matches a fresh compile")
        return 0
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    print(f"wrote {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
