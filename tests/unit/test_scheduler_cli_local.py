"""`edgemarket evolve`, `score` and `agent show`: local commands on the real core."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from services.cli.main import app
from services.common.scoring import score_agent
from services.common.spec import parse_spec

SPEC = {
    "schema": "edgemarket/task@1",
    "scorer": "bisuna-core/1",
    "env": {"name": "cipher", "params": {"payload_words": 1}},
    "eval": {"samples": 128},
    "budget": {"population": 12, "generations": 8},
}
SEED = "0x" + "ab" * 32


def test_evolve_score_show(tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    out = tmp_path / "best.agent"
    runner = CliRunner()
    res = runner.invoke(app, ["evolve", "--spec", str(spec), "--seed", "3", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "fitness" in res.output and out.stat().st_size > 0

    res = runner.invoke(app, ["score", str(out), "--spec", str(spec), "--seed", SEED])
    assert res.exit_code == 0, res.output
    expected = score_agent(out.read_bytes(), parse_spec(json.dumps(SPEC)), bytes.fromhex("ab" * 32))
    assert int(res.stdout.split()[0]) == expected.score

    res = runner.invoke(app, ["agent", "show", str(out)])
    assert res.exit_code == 0 and "2 network(s)" in res.output

    (tmp_path / "junk").write_bytes(b"junk")
    res = runner.invoke(app, ["score", str(tmp_path / "junk"), "--spec", str(spec), "--seed", SEED])
    assert res.exit_code == 0 and res.stdout.split()[0] == "0"
    assert "does not decode" in res.output


def test_clear_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"schema": "edgemarket/task@1", "scorer": "bisuna-core/1"}))
    res = runner.invoke(app, ["evolve", "--spec", str(spec)])
    assert res.exit_code != 0 and "env" in res.output
    spec.write_text(json.dumps(SPEC))
    res = runner.invoke(app, ["score", "0x00", "--spec", str(spec), "--seed", "0x1234"])
    assert res.exit_code != 0 and "32 bytes" in res.output
    res = runner.invoke(app, ["agent", "show", "0xdeadbeef"])
    assert res.exit_code != 0 and "not an agent" in res.output


def test_evolve_strategy(tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    out = tmp_path / "best.agent"
    runner = CliRunner()
    args = ["evolve", "--spec", str(spec), "--generations", "5", "--out", str(out)]
    res = runner.invoke(app, [*args, "--strategy", "es"])
    assert res.exit_code == 0, res.output
    assert out.stat().st_size > 0
    res = runner.invoke(app, [*args, "--strategy", "nope"])
    assert res.exit_code != 0 and "unknown strategy 'nope'; known: suna, es" in res.output
