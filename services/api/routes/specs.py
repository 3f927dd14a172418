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
    cid: str = Field(description="CIDv1 raw (sha2-256) of the spec bytes")
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
    """Store a task spec. The digest it returns is what `createTask` takes as `specDigest`."""
    from services.common.content import ContentError, cid_of
    from services.common.spec import parse_spec

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
    except ValueError as exc:
        raise ProblemError(422, "invalid-spec", "Spec is not valid", str(exc)) from exc
    if state.content is None:
        raise ProblemError(
            503, "no-content-store", "No content store", "the API has no content store configured"
        )
    try:
        cid = state.content.put(body)
    except ContentError as exc:
        raise ProblemError(
            503,
            "content-store-unavailable",
            "Content store unavailable",
            f"the spec could not be stored ({exc}); try again when the content store is back",
        ) from exc
    if cid != cid_of(body):
        raise ProblemError(
            502,
            "content-mismatch",
            "Content store disagrees",
            "the content store returned a CID that is not the spec's",
        )
    return StoredSpec(
        cid=cid,
        digest="0x" + hashlib.sha256(body).hexdigest(),
        size=len(body),
        title=getattr(spec, "title", None),
    )
