"""The requester's CLI pieces that need no chain: templates, spec checks, addresses, output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import bisuna
from bisuna.bindings import ENV_PARAMS
from services.cli import human
from services.cli.inputs import load_spec_file, strip_comments
from services.cli.main import app, hoist_global_options
from services.cli.spec import ENVIRONMENTS, template
from services.common.spec import SpecError, check_runnable, parse_spec, task_spec_json_schema
from services.common.task_checks import TaskCheckError, check_evaluators

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = {"scorer": "bisuna-core/1", "env": {"name": "multiplexer-6"}}


def test_templates_cover_every_environment_of_the_core() -> None:
    assert set(ENVIRONMENTS) == set(ENV_PARAMS)
    for env, (_, params, _) in ENVIRONMENTS.items():
        assert set(params) == set(ENV_PARAMS[env]), env


@pytest.mark.parametrize("env", sorted(ENV_PARAMS))
def test_every_template_is_commented_and_valid(env: str, tmp_path: Path) -> None:
    text = template(env)
    assert text.count("//") >= 5
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)  # it has comments: only the spec readers take it
    path = tmp_path / f"{env}.jsonc"
    path.write_text(text)
    spec = load_spec_file(path, runnable=True)
    assert spec.env.name == env and spec.scorer in bisuna.SCORERS
    assert spec.scorer == bisuna.SCORERS[-1], "a new task names the newest, fuel-bounded scorer"


def test_comments_are_stripped_outside_strings_only() -> None:
    text = '{"title": "see http://x // y", // a comment\n "a": "\\"//"} // end'
    assert json.loads(strip_comments(text)) == {"title": "see http://x // y", "a": '"//'}


def test_schema_default_and_required_fields_agree() -> None:
    schema = task_spec_json_schema()
    required = set(schema.get("required", []))
    assert required == {"scorer", "env"}
    full = parse_spec(MINIMAL).to_dict()
    for name in schema["properties"]:
        without = {k: v for k, v in full.items() if k != name}
        if name in required:
            with pytest.raises(SpecError, match=f"`{name}` missing"):
                parse_spec(without)
        else:  # optional in the schema: leaving it out is valid, its default fills it in
            assert parse_spec(without).to_dict() == full, name
    # `schema` has a default: leaving it out is valid and means the same spec.
    assert "default" in schema["properties"]["schema"]
    assert parse_spec(MINIMAL).to_bytes() == parse_spec({"schema": "edgemarket/task@1", **MINIMAL}).to_bytes()
    with pytest.raises(SpecError, match="`schema` is 'edgemarket/task@2'"):
        parse_spec({"schema": "edgemarket/task@2", **MINIMAL})


def test_unknown_scorer_and_limits_the_core_refuses() -> None:
    with pytest.raises(SpecError, match="'bisuna/1' is not one this core implements"):
        check_runnable(parse_spec({**MINIMAL, "scorer": "bisuna/1"}))
    # the schema takes the core's own population range, so the refusal comes at parse time
    with pytest.raises(SpecError, match=r"population.*less than or equal to 10000"):
        check_runnable(parse_spec({**MINIMAL, "budget": {"population": 50_000}}))
    # env.params are checked per environment against the core's parser at parse time too
    with pytest.raises(SpecError, match="parity-n environment takes n"):
        check_runnable(parse_spec({**MINIMAL, "env": {"name": "parity-n", "params": {"bits": 5}}}))
    check_runnable(parse_spec(MINIMAL))


def test_evolve_refuses_an_unknown_scorer(tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({**MINIMAL, "scorer": "bisuna/1"}))
    result = CliRunner().invoke(app, ["evolve", "--spec", str(spec), "--generations", "1"])
    assert result.exit_code != 0 and "bisuna/1" in result.output


def test_evaluator_addresses() -> None:
    good = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    assert check_evaluators([good.lower()]) == [good]
    bad_case = good[:10] + good[10].swapcase() + good[11:]  # "C" -> "c"
    cases: list[tuple[list[str], str]] = [
        ([], "1 to 5 evaluators"),
        (["0x1234"], "is not an address"),
        (["70997970c51812dc3a010c7d01b50e0d17dc79c8"], "is not an address"),
        ([bad_case], "checksum"),
        (["0x" + "0" * 40], "zero address"),
        ([good, good.lower()], "listed twice"),
        ([good] * 6, "1 to 5 evaluators"),
    ]
    for evaluators, message in cases:
        with pytest.raises(TaskCheckError, match=message):
            check_evaluators(evaluators)


def test_human_output() -> None:
    assert human.tfuel(10**18) == "1 TFUEL"
    assert human.tfuel(15 * 10**17) == "1.5 TFUEL"
    assert human.tfuel(10**15) == "0.001 TFUEL"
    assert human.tfuel(7) == "7 wei"
    assert human.tfuel(0) == "0 TFUEL"
    assert human.when(1_800_000_000, 1_800_000_000 - 250) == "2027-01-15T08:00:00Z (in 4m 10s)"
    assert human.when(1_800_000_000, 1_800_000_000 + 3) == "2027-01-15T08:00:00Z (3s ago)"
    assert human.score(953_125) == "0.953125"


def test_global_options_anywhere_on_the_line() -> None:
    assert hoist_global_options(["task", "create", "--stack", "d", "--debug", "-e", "x"]) == [
        "--stack",
        "d",
        "--debug",
        "task",
        "create",
        "-e",
        "x",
    ]
    assert hoist_global_options(["task", "show", "--stack=d", "1"]) == ["--stack=d", "task", "show", "1"]


def _edgemarket(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("EDGEMARKET_")}
    return subprocess.run(
        [sys.executable, "-m", "services.cli.main", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_no_chain_is_one_line_with_the_fix(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    out = _edgemarket("task", "list", env={"EDGEMARKET_RPC_URL": url})
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.count("\n") == 1, out.stderr
    assert f"no chain answers at {url}" in out.stderr and "edgemarket up" in out.stderr
    # --debug: the traceback, as before.
    debug = _edgemarket("task", "list", "--debug", env={"EDGEMARKET_RPC_URL": url})
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_a_stopped_stack_is_one_line_that_names_it(tmp_path: Path) -> None:
    info: dict[str, Any] = {
        "run_dir": str(tmp_path),
        "page_url": "http://127.0.0.1:1",
        "rpc_url": f"http://127.0.0.1:{_closed_port()}",
        "chain_id": 31337,
        "redis_url": "redis://127.0.0.1:1/0",
        "database_url": f"sqlite:///{tmp_path / 'db'}",
        "content_store": f"file:{tmp_path / 'content'}",
        "deployment_file": str(tmp_path / "deployment.json"),
        "evaluators": [],
        "requester": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "requester_key": "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    }
    (tmp_path / "stack.json").write_text(json.dumps(info))
    out = _edgemarket("task", "show", "1", env={"EDGEMARKET_STACK": str(tmp_path)})
    assert out.returncode == 1 and out.stderr.count("\n") == 1, out.stderr
    assert f"the stack at {tmp_path} is not running" in out.stderr
    assert f"edgemarket up --run-dir {tmp_path}" in out.stderr
    missing = _edgemarket("--stack", str(tmp_path / "nope"), "task", "list", env={})
    assert missing.returncode == 1 and "no such directory" in missing.stderr
