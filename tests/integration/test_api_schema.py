"""schemathesis over the API's OpenAPI document: generated requests never cause a server error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from services.api.app import create_app
from services.common.chain import Deployment
from services.common.content import LocalContentStore
from services.common.settings import Settings
from tests.integration.test_api import SPEC_BYTES, project, scenario


@pytest.fixture
def api_schema(sqlite_url: str, tmp_path: Path, clean_env: None) -> Any:
    project(sqlite_url, scenario().messages)
    LocalContentStore(tmp_path / "content").put(SPEC_BYTES)
    # A deployment record is all /chain and /tx/create-task need: they encode, never send.
    deployment = Deployment(31337, "0x" + "c0" * 20, 1, "0x" + "00" * 32, "0x" + "11" * 32)
    app = create_app(
        Settings(
            database_url=sqlite_url,
            content_store=f"file:{tmp_path / 'content'}",
            chain_id=31337,
            deployment_file=deployment.save(tmp_path / "31337.json"),
        )
    )
    # The event stream never ends by design; it has its own test.
    return schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path="/tasks/{task_id}/events")


def test_no_server_error_and_responses_match_the_document(api_schema: Any) -> None:
    # Driven by hand rather than through schemathesis' pytest plugin, whose fixture support
    # does not work with this pytest; the checks are the same (all of schemathesis' defaults).
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: schemathesis.Case) -> None:
            # Specs and createTask have rules JSON Schema cannot state (a cipher's params, a
            # strict-majority quorum, ordered deadlines): a schema-valid body may get a 422.
            excluded = [positive_data_acceptance] if case.method.upper() == "POST" else []
            case.call_and_validate(excluded_checks=excluded)

        check()
