"""What the page reads beyond the read model: GET /specs/schema (the create form) and the
evaluators GET /chain lists."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import bisuna
from bisuna.bindings import ENV_PARAMS
from services.api.app import create_app
from services.common.chain import Deployment
from services.common.settings import Settings
from services.common.spec import parse_spec
from tests.integration.test_api import EVALUATORS, project, scenario


def _settings(tmp_path: Path) -> Settings:
    deployment = Deployment(31337, "0x" + "c0" * 20, 1, "0x" + "00" * 32, "0x" + "11" * 32)
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'api.db'}",
        content_store=f"file:{tmp_path / 'content'}",
        chain_id=31337,
        deployment_file=deployment.save(tmp_path / "31337.json"),
        state_dir=tmp_path / "state",
    )


@pytest.fixture
def client(tmp_path: Path, clean_env: None) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(tmp_path))) as c:
        yield c


def _fill(variant: dict[str, Any], pick: str) -> dict[str, Any]:
    """A spec as the form builds it, each env parameter at its `pick` (default/minimum/maximum)."""
    params = {}
    for key, prop in variant["properties"]["params"]["properties"].items():
        params[key] = prop["enum"][-1] if "enum" in prop else prop[pick]
    spec: dict[str, Any] = {
        "schema": "edgemarket/task@1",
        "scorer": bisuna.SCORERS[0],
        "env": {"name": variant["properties"]["name"]["const"], "params": params},
    }
    samples = variant["x-eval-samples"]
    if samples is not None:
        spec["eval"] = {"samples": samples[pick]}
    return spec


def test_the_form_schema_names_every_environment_and_its_parameters(client: TestClient) -> None:
    schema = client.get("/specs/schema").json()
    variants = schema["properties"]["env"]["oneOf"]
    names = [v["properties"]["name"]["const"] for v in variants]
    assert sorted(names) == sorted(ENV_PARAMS)  # every environment the core knows
    for variant in variants:
        name = variant["properties"]["name"]["const"]
        assert sorted(variant["properties"]["params"]["properties"]) == sorted(ENV_PARAMS[name])
        # Defaults and both bounds of every parameter make specs the API and the core accept.
        for pick in ("default", "minimum", "maximum"):
            spec = _fill(variant, pick)
            parsed = parse_spec(json.dumps(spec))
            bisuna.Environment(parsed.to_dict())
            r = client.post("/specs", json=spec)
            assert r.status_code == 201, (name, pick, r.text)
    assert schema["properties"]["scorer"]["enum"] == list(bisuna.SCORERS)
    for group in ("budget", "limits"):
        for prop in schema["properties"][group]["properties"].values():
            assert prop["type"] == "integer" and "default" in prop and "minimum" in prop


def test_the_schemas_bounds_are_the_cores(client: TestClient) -> None:
    """One past each integer parameter's bound the core refuses: the form's bounds are tight."""
    schema = client.get("/specs/schema").json()
    for variant in schema["properties"]["env"]["oneOf"]:
        name = variant["properties"]["name"]["const"]
        for key, prop in variant["properties"]["params"]["properties"].items():
            if prop.get("type") != "integer":
                continue
            for bad in (prop["minimum"] - 1, prop["maximum"] + 1):
                spec = {
                    "schema": "edgemarket/task@1",
                    "scorer": bisuna.SCORERS[0],
                    "env": {"name": name, "params": {key: bad}},
                }
                with pytest.raises(bisuna.BisunaError):
                    bisuna.Environment(spec)


def test_chain_lists_no_evaluators_when_it_knows_none(client: TestClient) -> None:
    body = client.get("/chain").json()
    assert body["evaluators"] == [] and body["evaluators_source"] is None


def test_chain_lists_the_evaluators_of_the_newest_task(tmp_path: Path, clean_env: None) -> None:
    settings = _settings(tmp_path)
    project(settings.database_url, scenario().messages)
    with TestClient(create_app(settings)) as c:
        body = c.get("/chain").json()
    assert body["evaluators_source"] == "last-task"
    assert [e.lower() for e in body["evaluators"]] == [e.lower() for e in EVALUATORS]


def test_chain_lists_the_evaluators_the_stack_runs(tmp_path: Path, clean_env: None) -> None:
    settings = _settings(tmp_path)
    project(settings.database_url, scenario().messages)
    running = ["0x" + f"{i:02x}" * 20 for i in (0x21, 0x22, 0x23)]
    settings.state_dir.mkdir()
    (settings.state_dir / "stack.json").write_text(json.dumps({"evaluators": running}))
    with TestClient(create_app(settings)) as c:
        body = c.get("/chain").json()
    # What `edgemarket up` started beats what the last task named.
    assert body == {**body, "evaluators": running, "evaluators_source": "stack"}
    (settings.state_dir / "stack.json").write_text(json.dumps({"evaluators": ["not an address"]}))
    with TestClient(create_app(settings)) as c:
        assert c.get("/chain").json()["evaluators_source"] == "last-task"
