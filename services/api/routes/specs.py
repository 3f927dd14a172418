"""POST /specs: validate a task spec, store it in the content store, return its CID and digest."""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from services.api.deps import State
from services.api.problems import PROBLEM_MEDIA_TYPE, Problem, ProblemError
from services.common.json_input import JsonObject
from services.common.spec import MAX_SPEC_BYTES  # as every artifact: 256 KiB

router = APIRouter(tags=["specs"])


class StoredSpec(BaseModel):
    cid: str = Field(
        description="CIDv1 raw (sha2-256) of the spec's canonical bytes (what is stored)"
    )
    digest: str = Field(
        description="sha256 of the spec bytes, 0x-hex: the specDigest for createTask"
    )
    size: int
    title: str | None = None


def _inline_refs(node: Any, defs: JsonObject) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline_refs(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline_refs(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline_refs(v, defs) for v in node]
    return node


def _spec_schema() -> JsonObject:
    """The spec's JSON Schema, self-contained for the OpenAPI document (its $defs inlined)."""
    from services.common.spec import task_spec_json_schema

    schema = dict(task_spec_json_schema())
    defs = schema.pop("$defs", {})
    for key in ("$schema", "$id"):
        schema.pop(key, None)
    inlined: JsonObject = _inline_refs(schema, defs)
    return inlined


# Each environment's parameters, as the core takes them (docs/scorer.md, the spec table;
# bisuna.bindings.ENV_PARAMS names the keys and the C parser checks them again).
_ENV_PARAMS: dict[str, JsonObject] = {
    "cipher": {
        "payload_words": {
            "type": "integer", "minimum": 1, "maximum": 16, "default": 3,
            "title": "Payload words", "description": "16-bit words per message",
        },
        "mix": {
            "type": "string", "enum": ["xor", "none"], "default": "xor", "title": "Mix",
            "description": "xor: Alice reads K xor P (BiSUNA's protocol); none: P and K apart (harder)",
        },
    },
    "multiplexer-6": {},
    "multiplexer-11": {},
    "parity-n": {
        "n": {"type": "integer", "minimum": 2, "maximum": 16, "default": 3, "title": "Input bits"},
    },
    "mountain-car": {
        "max_steps": {
            "type": "integer", "minimum": 1, "maximum": 100_000, "default": 1000,
            "title": "Steps per episode", "description": "an episode that misses the goal scores 0",
        },
    },
}
# What `eval.samples` means per environment; None: it does not apply.
_ENV_SAMPLES: dict[str, JsonObject | None] = {
    "cipher": {"minimum": 8, "maximum": 1_048_576, "default": 4096, "title": "Messages (P, K pairs)"},
    "multiplexer-6": None,
    "multiplexer-11": None,
    "parity-n": None,
    "mountain-car": {"minimum": 1, "maximum": 4096, "default": 16, "title": "Episodes"},
}
_ENV_TITLES = {
    "cipher": "cipher: learn a one-time-pad-like encryption",
    "multiplexer-6": "multiplexer-6: 2 address bits select one of 4 data bits",
    "multiplexer-11": "multiplexer-11: 3 address bits select one of 8 data bits",
    "parity-n": "parity-n: the parity of n input bits",
    "mountain-car": "mountain-car: drive an underpowered car up a hill",
}


def spec_form_schema() -> JsonObject:
    """The spec's JSON Schema with what a form needs to post every environment: `env` as one
    variant per environment (its name a const, its params typed with bounds and defaults,
    `x-eval-samples` saying what eval.samples counts there) and `scorer` as the core's list."""
    import bisuna

    schema = _spec_schema()
    props = dict(schema.get("properties", {}))
    scorer = dict(props.get("scorer", {}))
    scorer["enum"] = list(bisuna.SCORERS)
    scorer["default"] = bisuna.SCORERS[-1]
    props["scorer"] = scorer
    props["env"] = {
        "title": "Environment",
        "oneOf": [
            {
                "title": _ENV_TITLES[name],
                "type": "object",
                "additionalProperties": False,
                "required": ["name"],
                "properties": {
                    "name": {"const": name},
                    "params": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": params,
                    },
                },
                "x-eval-samples": _ENV_SAMPLES[name],
            }
            for name, params in _ENV_PARAMS.items()
        ],
    }
    schema["properties"] = props
    schema["$id"] = "https://edgemarket.dev/schemas/task@1.form.json"
    return schema


def _openapi_extra() -> JsonObject:
    try:
        schema: JsonObject = _spec_schema()
    except Exception:  # the schema module is optional for the document, never for the route
        schema = {"type": "object"}
    return {
        "requestBody": {
            "required": True,
            "description": f"an edgemarket/task@1 spec as JSON, at most {MAX_SPEC_BYTES} bytes",
            "content": {"application/json": {"schema": schema}},
        }
    }


async def _read_capped(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_SPEC_BYTES:
        raise _too_large(int(declared))
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_SPEC_BYTES:
            raise _too_large(len(body))
    return bytes(body)


def _too_large(size: int) -> ProblemError:
    return ProblemError(
        413,
        "spec-too-large",
        "Spec too large",
        f"a task spec is at most {MAX_SPEC_BYTES} bytes; this one has at least {size}",
    )


@router.get("/specs/schema", response_model=None)
def spec_schema() -> JsonObject:
    """The JSON Schema of edgemarket/task@1 as the page's create form reads it: every
    environment with its parameters, bounds and defaults, and the scorers this core knows."""
    return spec_form_schema()


@router.post(
    "/specs",
    response_model=StoredSpec,
    status_code=201,
    openapi_extra=_openapi_extra(),
    responses={
        413: {"model": Problem, "content": {PROBLEM_MEDIA_TYPE: {}}},
        415: {"model": Problem, "content": {PROBLEM_MEDIA_TYPE: {}}},
        422: {"model": Problem, "content": {PROBLEM_MEDIA_TYPE: {}}},
    },
)
async def store_spec(request: Request, state: State) -> StoredSpec:
    """Store a task spec, as its canonical bytes (sorted keys, defaults filled in). The digest
    it returns is what `createTask` takes as `specDigest`. A spec the core could not score
    (limits beyond its own, parameters its environment does not take) is a 422 saying why."""
    from services.common.content import ContentError, cid_of
    from services.common.spec import check_runnable, parse_spec

    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in ("application/json", ""):
        raise ProblemError(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            f"send the spec as application/json, not {media}",
        )
    body = await _read_capped(request)
    try:
        spec = parse_spec(body)
        check_runnable(spec)  # an unknown scorer or limits the core refuses: nobody could score it
    except ValueError as exc:
        raise ProblemError(422, "invalid-spec", "Spec is not valid", str(exc)) from exc
    if state.content is None:
        raise ProblemError(
            503, "no-content-store", "No content store", "the API has no content store configured"
        )
    # The canonical bytes are stored, as `edgemarket task create` stores them: one spec, one CID,
    # whatever key order, spacing or `4096.0` the request used.
    canonical = spec.to_bytes()
    try:
        cid = state.content.put(canonical)
    except ContentError as exc:
        raise ProblemError(
            503,
            "content-store-unavailable",
            "Content store unavailable",
            f"the spec could not be stored ({exc}); try again when the content store is back",
        ) from exc
    if cid != cid_of(canonical):
        raise ProblemError(
            502,
            "content-mismatch",
            "Content store disagrees",
            "the content store returned a CID that is not the spec's",
        )
    return StoredSpec(
        cid=cid,
        digest="0x" + hashlib.sha256(canonical).hexdigest(),
        size=len(canonical),
        title=getattr(spec, "title", None),
    )
