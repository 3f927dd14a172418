"""`edgemarket task create` refuses a spec the core would refuse, with the reason, before it
uploads anything or touches the chain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli.main import app

BASE = {"schema": "edgemarket/task@1", "scorer": "bisuna-core/1", "env": {"name": "cipher"}}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"budget": {"population": 100_000}}, "budget.population"),
        ({"limits": {"max_connections": 1_048_575}}, "limits.max_connections"),
        ({"eval": {"samples": 1}}, "eval.samples must be in 8..1048576 for cipher"),
        ({"env": {"name": "parity-n", "params": {"bits": 4}}}, "takes n"),
    ],
)
def test_task_create_refuses_what_the_core_refuses(
    tmp_path: Path, clean_env: None, monkeypatch: pytest.MonkeyPatch, change: dict[str, object], reason: str
) -> None:
    monkeypatch.setenv("EDGEMARKET_RPC_URL", "http://127.0.0.1:9")  # never reached
    monkeypatch.setenv("EDGEMARKET_CONTENT_STORE", f"file:{tmp_path / 'content'}")
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({**BASE, **change}))
    result = CliRunner().invoke(
        app, ["task", "create", "--spec", str(spec), "--bounty", "1", "-e", "0x" + "22" * 20]
    )
    assert result.exit_code == 2, result.output
    assert reason in " ".join(result.output.replace("│", " ").split())  # rich wraps in a box
    assert not (tmp_path / "content").exists()
