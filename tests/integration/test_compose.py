"""compose.yaml cannot run here (no Docker engine): check it against the project instead."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from services.cli.main import app

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return data


def _resolve(argv: list[str]) -> tuple[Any, list[str]]:
    """Walk the CLI's command tree along argv; return the command reached and the rest.
    (Typer vendors its own click, so groups are recognised by their `commands`.)"""
    command: Any = typer.main.get_command(app)
    rest = list(argv)
    while rest and hasattr(command, "commands"):
        sub = command.commands.get(rest[0])
        if sub is None:
            raise AssertionError(f"`edgemarket {' '.join(argv)}`: no subcommand {rest[0]!r}")
        command, rest = sub, rest[1:]
    return command, rest


def _project_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: svc
        for name, svc in compose["services"].items()
        if str(svc.get("image", "")).startswith("edgemarket") and "anvil" not in name
    }


def test_every_service_runs_an_existing_cli_command(compose: dict[str, Any]) -> None:
    services = _project_services(compose)
    assert {"indexer", "projector", "scheduler", "keeper", "api", "worker"} <= services.keys()
    assert sum(1 for n in services if n.startswith("evaluator")) == 3
    for name, svc in services.items():
        argv = svc["command"]
        assert argv[0] == "edgemarket", name
        command, rest = _resolve(argv[1:])
        assert not hasattr(command, "commands"), (
            f"{name}: `{' '.join(argv)}` names a group, not a command"
        )
        # Every option the service passes must be one the command accepts, and parse.
        known = {opt for p in command.params for opt in getattr(p, "opts", [])}
        for token in rest:
            if token.startswith("--"):
                assert token.split("=")[0] in known, (
                    f"{name}: {token} is not an option of `{' '.join(argv[:3])}`"
                )
        command.make_context(" ".join(argv[:3]), list(rest), resilient_parsing=True)


def test_the_chain_node_is_the_projects_anvil(compose: dict[str, Any]) -> None:
    anvil = compose["services"]["anvil"]
    assert anvil["command"][0] == "anvil"
    assert "local-chain" in anvil["profiles"], "an external RPC must be able to replace it"
    assert (ROOT / "package.json").read_text().count("anvil") >= 1


def test_backends_and_scaling(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"redis", "postgres", "kubo"} <= services.keys()
    worker = services["worker"]
    # `--scale worker=N` needs no fixed name and no host port.
    assert "container_name" not in worker and "ports" not in worker
    env = worker["environment"]
    assert env["EDGEMARKET_CONTENT_STORE"].startswith("kubo:")
    assert env["EDGEMARKET_DATABASE_URL"].startswith("postgresql")


def test_no_secret_in_compose_and_every_variable_documented(compose: dict[str, Any]) -> None:
    text = (ROOT / "compose.yaml").read_text()
    assert not re.search(r"(?<![0-9a-fA-F])(0x)?[0-9a-fA-F]{64}(?![0-9a-fA-F])", text), (
        "a key in compose.yaml"
    )
    example = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, flags=re.M))
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]+)", text))
    assert used <= documented, f"undocumented in .env.example: {sorted(used - documented)}"
    # Keys and passwords are left empty in the example.
    for line in example.splitlines():
        if re.match(r"^[A-Z_]*(KEY|PASSWORD)=", line):
            assert line.endswith("="), line


def test_no_password_on_a_command_line(compose: dict[str, Any]) -> None:
    """`ps` shows every process's arguments: passwords come from secrets or the environment."""
    for name, svc in compose["services"].items():
        for part in (svc.get("command") or [], (svc.get("healthcheck") or {}).get("test") or []):
            text = " ".join(part) if isinstance(part, list) else str(part)
            assert "--requirepass" not in text and "PASSWORD}" not in text, name
            assert not re.search(r"redis-cli\b[^|]*\s-a\s", text), name


def test_env_example_documents_theta_testnet() -> None:
    example = (ROOT / ".env.example").read_text()
    assert "https://eth-rpc-api-testnet.thetatoken.org/rpc" in example
    assert re.search(r"EDGEMARKET_CHAIN_ID=365\b", example)


def test_dockerfile_installs_the_project_and_anvil() -> None:
    docker = (ROOT / "Dockerfile").read_text()
    assert "pip install" in docker and "npm ci" in docker and "anvil" in docker
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".venv", ".edgemarket"} <= set(ignored), "local state or secrets in the build context"
    assert "USER edgemarket" in docker
