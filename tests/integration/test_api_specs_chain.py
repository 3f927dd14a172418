"""POST /specs, GET /chain, POST /tx/create-task and problem responses, against the real parts."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.common.chain import Deployment, Marketplace
from services.common.content import LocalContentStore, cid_of
from services.common.settings import Settings
from services.common.spec import parse_spec
from tests.fixtures.chain import Chain
from tests.integration.test_api import SPEC


def _settings(tmp_path: Path, **extra: Any) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'api.db'}",
        content_store=f"file:{tmp_path / 'content'}",
        state_dir=tmp_path / "state",  # no stack.json from a real run dir leaks in
        **extra,
    )


@pytest.fixture
def client(tmp_path: Path, clean_env: None) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(tmp_path))) as c:
        yield c


def _is_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["type"]
    return body


def test_store_spec_returns_cid_and_digest_and_stores_the_canonical_bytes(
    client: TestClient, tmp_path: Path
) -> None:
    raw = json.dumps(SPEC, indent=2).encode()
    canonical = parse_spec(raw).to_bytes()  # what `edgemarket task create` stores
    assert raw != canonical
    r = client.post("/specs", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["digest"] == "0x" + hashlib.sha256(canonical).hexdigest()
    assert body["cid"] == cid_of(canonical)
    assert body["title"] == SPEC["title"]
    assert LocalContentStore(tmp_path / "content").get(body["cid"]) == canonical


def test_one_spec_one_cid_whatever_its_spelling(client: TestClient) -> None:
    spellings = [
        json.dumps(SPEC).encode(),
        json.dumps(SPEC, indent=1, sort_keys=True).encode(),
        json.dumps({**SPEC, "eval": {"samples": float(SPEC["eval"]["samples"])}}).encode(),
    ]
    assert b".0" in spellings[2]
    cids = {client.post("/specs", content=raw).json()["cid"] for raw in spellings}
    assert cids == {cid_of(parse_spec(SPEC).to_bytes())}


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b'{"schema":"edgemarket/task@1","schema":"edgemarket/task@1","scorer":"x"}', "twice"),
        (json.dumps(SPEC).encode("utf-16"), "UTF-8"),
        (json.dumps(SPEC).encode("utf-16-be"), "UTF-8"),
        (json.dumps({**SPEC, "budget": {"population": 100_000}}).encode(), "budget.population"),
        (json.dumps({**SPEC, "eval": {"samples": 1}}).encode(), "eval.samples"),
    ],
)
def test_specs_that_are_not_one_canonical_valid_spec_are_refused(
    client: TestClient, tmp_path: Path, raw: bytes, says: str
) -> None:
    body = _is_problem(
        client.post("/specs", content=raw, headers={"content-type": "application/json"}), 422
    )
    assert says in body["detail"]
    content = tmp_path / "content"
    assert not content.exists() or not any(p.is_file() for p in content.rglob("*"))


def test_bad_specs_are_problems(client: TestClient) -> None:
    missing = {k: v for k, v in SPEC.items() if k != "env"}
    body = _is_problem(client.post("/specs", json=missing), 422)
    assert "env" in body["detail"]
    _is_problem(
        client.post("/specs", content=b"{not json", headers={"content-type": "application/json"}),
        422,
    )
    bad_env = {**SPEC, "env": {"name": "chess", "params": {}}}
    _is_problem(client.post("/specs", json=bad_env), 422)
    _is_problem(client.post("/specs", content=b"x", headers={"content-type": "text/plain"}), 415)


def test_oversized_spec_is_refused_before_it_is_stored(client: TestClient, tmp_path: Path) -> None:
    big = {**SPEC, "description": "x" * (300 * 1024)}
    body = _is_problem(client.post("/specs", json=big), 413)
    assert "at most" in body["detail"]
    content = tmp_path / "content"
    assert not content.exists() or not any(p.is_file() for p in content.rglob("*"))


def test_unknown_paths_and_methods_are_problems(client: TestClient) -> None:
    _is_problem(client.get("/no/such/thing"), 404)
    _is_problem(client.delete("/specs"), 405)


def test_chain_without_deployment_is_a_clear_problem(tmp_path: Path, clean_env: None) -> None:
    settings = _settings(tmp_path, chain_id=31337, deployment_file=tmp_path / "missing.json")
    with TestClient(create_app(settings)) as c:
        body = _is_problem(c.get("/chain"), 503)
        assert "contract deploy" in body["detail"]


@pytest.fixture
def chain_client(
    tmp_path: Path, clean_env: None, chain: Chain, marketplace_deployment: Deployment
) -> Iterator[TestClient]:
    path = marketplace_deployment.save(tmp_path / "deployments" / "31337.json")
    settings = _settings(tmp_path, chain_id=31337, rpc_url=chain.url, deployment_file=path)
    with TestClient(create_app(settings)) as c:
        yield c


def test_chain_info_names_the_deployment(
    chain_client: TestClient, marketplace_deployment: Deployment
) -> None:
    r = chain_client.get("/chain")
    assert r.status_code == 200
    assert r.json() == {
        "chain_id": 31337,
        "contract": marketplace_deployment.address,
        "deploy_block": marketplace_deployment.block_number,
        "evaluators": [],  # no stack.json, no task yet: the page asks for addresses
        "evaluators_source": None,
    }


def test_prepared_create_task_is_accepted_by_the_contract(
    chain_client: TestClient, chain: Chain, marketplace: Marketplace
) -> None:
    """The page's path: spec to the API, createTask prepared, signed by the user's own key."""
    stored = chain_client.post("/specs", json=SPEC).json()
    requester = chain.accounts[7]
    evaluators = [a.address for a in chain.accounts[8:11]]
    now = chain.now()
    request = {
        "spec_digest": stored["digest"],
        "bounty_wei": str(10**18),
        "commit_deadline": now + 600,
        "reveal_deadline": now + 900,
        "eval_window": 120,
        "evaluators": evaluators,
        "quorum": 2,
        "min_score": 1000,
        "commit_bond_wei": str(10**16),
        "evaluator_fee_wei": str(10**15),
    }
    tx = chain_client.post("/tx/create-task", json=request)
    assert tx.status_code == 200, tx.text
    prepared = tx.json()
    assert prepared["chain_id"] == 31337
    assert int(prepared["value"], 16) == 10**18 + 3 * 10**15
    # The wallet's part, done here with the requester's key: the API never saw it.
    w3 = chain.w3
    signed = requester.sign_transaction(
        {
            "to": prepared["to"],
            "data": prepared["data"],
            "value": int(prepared["value"], 16),
            "gas": 1_000_000,
            "gasPrice": w3.eth.gas_price,
            "nonce": w3.eth.get_transaction_count(requester.address),
            "chainId": prepared["chain_id"],
        }
    )
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(signed.raw_transaction)
    )
    assert receipt["status"] == 1
    task = marketplace.get_task(marketplace.task_count())
    assert task.creator == requester.address
    assert task.spec_digest == bytes.fromhex(stored["digest"][2:])
    assert task.bounty == 10**18 and task.quorum == 2 and task.min_score == 1000
    assert [e.lower() for e in task.evaluators] == [e.lower() for e in evaluators]


@pytest.mark.parametrize(
    "change",
    [
        {"quorum": 1},  # not a strict majority of 3
        {"evaluators": []},
        {"reveal_deadline": 10},  # before the commit deadline
        {"eval_window": 59},
        {"bounty_wei": "0"},
        {"spec_digest": "0x1234"},
        {"min_score": 1_000_001},
    ],
)
def test_invalid_create_task_requests_are_problems(
    chain_client: TestClient, change: dict[str, Any]
) -> None:
    request = {
        "spec_digest": "0x" + "11" * 32,
        "bounty_wei": "1",
        "commit_deadline": 100,
        "reveal_deadline": 200,
        "evaluators": ["0x" + "22" * 20, "0x" + "33" * 20, "0x" + "44" * 20],
        "quorum": 2,
    }
    body = _is_problem(chain_client.post("/tx/create-task", json={**request, **change}), 422)
    assert body["errors"]


def test_unreachable_content_store_is_a_503_problem(tmp_path: Path, clean_env: None) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'api.db'}", content_store="kubo:http://127.0.0.1:9"
    )
    with TestClient(create_app(settings)) as c:
        body = _is_problem(c.post("/specs", json=SPEC), 503)
        assert "try again" in body["detail"]


def test_unknown_scorer_is_refused_before_it_is_stored(client: TestClient, tmp_path: Path) -> None:
    body = _is_problem(client.post("/specs", json={**SPEC, "scorer": "bisuna/1"}), 422)
    assert "'bisuna/1'" in body["detail"] and "bisuna-core/1" in body["detail"]
    content = tmp_path / "content"
    assert not content.exists() or not any(p.is_file() for p in content.rglob("*"))


def _create_request(chain: Chain, digest: str, **change: Any) -> dict[str, Any]:
    now = chain.now()
    return {
        "spec_digest": digest,
        "bounty_wei": str(10**18),
        "commit_deadline": now + 600,
        "reveal_deadline": now + 900,
        "evaluators": [a.address for a in chain.accounts[8:11]],
        "quorum": 2,
        **change,
    }


def test_create_task_checks_what_task_create_checks(
    chain_client: TestClient, chain: Chain, tmp_path: Path
) -> None:
    """The page's create flow refuses what the CLI refuses: a spec the stack's content store
    does not hold, a spec its core cannot score, a malformed evaluator address."""
    absent = "0x" + hashlib.sha256(b"never stored").hexdigest()
    body = _is_problem(chain_client.post("/tx/create-task", json=_create_request(chain, absent)), 422)
    assert body["type"].endswith("task-check-failed") and "POST /specs" in body["detail"]

    # Stored behind the API's back (POST /specs would refuse it): an unknown scorer.
    unknown = json.dumps({**SPEC, "scorer": "bisuna/1"}).encode()
    LocalContentStore(tmp_path / "content").put(unknown)
    digest = "0x" + hashlib.sha256(unknown).hexdigest()
    body = _is_problem(chain_client.post("/tx/create-task", json=_create_request(chain, digest)), 422)
    assert "'bisuna/1'" in body["detail"]

    stored = chain_client.post("/specs", json=SPEC).json()
    good = chain.accounts[8].address
    k = next(i for i, c in enumerate(good) if i > 1 and c.isalpha())
    typo = good[:k] + good[k].swapcase() + good[k + 1 :]  # one letter's case: a broken checksum
    evaluators = [typo, chain.accounts[9].address, chain.accounts[10].address]
    request = _create_request(chain, stored["digest"], evaluators=evaluators)
    body = _is_problem(chain_client.post("/tx/create-task", json=request), 422)
    assert "checksum" in body["detail"]
    ok = chain_client.post("/tx/create-task", json=_create_request(chain, stored["digest"]))
    assert ok.status_code == 200, ok.text
