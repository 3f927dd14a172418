"""The task spec, edgemarket/task@1: one pydantic model, its JSON Schema and a strict parser."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from services.common.chain.protocol import MAX_AGENT_BYTES
from services.common.json_input import JsonObject

SPEC_SCHEMA = "edgemarket/task@1"
MAX_SPEC_BYTES = 256 * 1024

EnvName = Literal["cipher", "multiplexer-6", "multiplexer-11", "parity-n", "mountain-car"]


class SpecError(ValueError):
    """A task spec is not a valid edgemarket/task@1 document; the message says why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CipherParams(_Strict):
    """Parameters of the `cipher` environment."""

    payload_words: Annotated[int, Field(ge=1, le=16)] = 3
    mix: Literal["xor", "none"] = "xor"


class Env(_Strict):
    """Which environment scores the agents, and its parameters."""

    name: EnvName
    params: dict[str, int | str | bool] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _params_fit_env(self) -> Env:
        if self.name == "cipher":
            try:
                CipherParams.model_validate(self.params)
            except ValidationError as e:
                first = e.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise ValueError(f"cipher params.{where}: {first['msg']}") from None
        return self

    def cipher_params(self) -> CipherParams:
        """The cipher parameters, defaults filled in."""
        return CipherParams.model_validate(self.params)


class Eval(_Strict):
    """How an evaluation samples cases."""

    samples: Annotated[int, Field(ge=1, le=1_048_576)] = 4096


class Budget(_Strict):
    """How much evolution a solver is expected to spend."""

    population: Annotated[int, Field(ge=2, le=100_000)] = 100
    generations: Annotated[int, Field(ge=1, le=10_000_000)] = 2000
    islands: Annotated[int, Field(ge=1, le=1024)] = 4
    epoch_generations: Annotated[int, Field(ge=1, le=1_000_000)] = 50


class Limits(_Strict):
    """The largest agent the task accepts."""

    max_neurons: Annotated[int, Field(ge=1, le=65_535)] = 256
    max_connections: Annotated[int, Field(ge=1, le=1_048_575)] = 2048
    max_agent_bytes: Annotated[int, Field(ge=1, le=MAX_AGENT_BYTES)] = MAX_AGENT_BYTES


class TaskSpec(_Strict):
    """A task spec as stored on IPFS and named on chain by its sha2-256 digest."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_: Literal["edgemarket/task@1"] = Field("edgemarket/task@1", alias="schema")
    scorer: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*/[0-9]+$", max_length=64)]
    env: Env
    eval: Eval = Field(default_factory=Eval)
    budget: Budget = Field(default_factory=Budget)
    limits: Limits = Field(default_factory=Limits)
    title: Annotated[str, Field(max_length=200)] = ""
    description: Annotated[str, Field(max_length=20_000)] = ""

    def to_dict(self) -> JsonObject:
        """The spec as the plain dict the core takes (`schema` key, defaults filled in)."""
        return self.model_dump(by_alias=True, mode="json")

    def to_bytes(self) -> bytes:
        """Canonical JSON bytes: sorted keys, no spaces, UTF-8; what gets stored and hashed."""
        return json.dumps(
            self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")


def task_spec_json_schema() -> JsonObject:
    """The JSON Schema (2020-12) of edgemarket/task@1."""
    schema = TaskSpec.model_json_schema(by_alias=True)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://edgemarket.dev/schemas/task@1.json",
        **schema,
    }


def _where(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def _explain(err: ValidationError) -> str:
    parts = []
    for e in err.errors()[:5]:
        loc = _where(tuple(e["loc"]))
        if e["type"] == "missing":
            parts.append(f"field `{loc}` missing")
        elif e["type"] == "extra_forbidden":
            parts.append(f"unknown field `{loc}`")
        else:
            parts.append(f"`{loc}`: {e['msg']}")
    more = len(err.errors()) - 5
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


def parse_spec(data: bytes | str | JsonObject, *, cid: str | None = None) -> TaskSpec:
    """Parse and validate a task spec; any problem raises SpecError saying what and where."""
    name = f"spec {cid}" if cid else "spec"
    if isinstance(data, bytes | str):
        if len(data) > MAX_SPEC_BYTES:
            raise SpecError(f"{name} is {len(data)} bytes; a spec is at most {MAX_SPEC_BYTES}")
        try:
            doc = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise SpecError(f"{name} is not JSON: {e}") from None
    else:
        doc = data
    if not isinstance(doc, dict):
        raise SpecError(f"{name} is not {SPEC_SCHEMA}: expected a JSON object")
    if doc.get("schema") != SPEC_SCHEMA:
        got = doc.get("schema")
        raise SpecError(
            f"{name} is not {SPEC_SCHEMA}: "
            + ("field `schema` missing" if got is None else f"`schema` is {got!r}")
        )
    try:
        return TaskSpec.model_validate(doc)
    except ValidationError as e:
        raise SpecError(f"{name} is not {SPEC_SCHEMA}: {_explain(e)}") from None
