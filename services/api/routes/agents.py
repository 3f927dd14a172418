"""GET /agents/{digest}, its cipher preview (PNG) and its graph (DOT)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field
from sqlmodel import Session

import bisuna
from services.api.deps import (
    DB,
    IMMUTABLE,
    REVALIDATE,
    ApiState,
    State,
    conditional,
    etag_of,
    not_modified,
    state_of,
)
from services.api.guard import GuardedRoute
from services.api.problems import (
    PROBLEM_MEDIA_TYPE,
    PROBLEM_RESPONSES,
    Problem,
    ProblemError,
    not_found,
)
from services.api.routes import read_model
from services.api.routes.tasks import spec_summary
from services.common.json_input import JsonObject
from services.common.spec import Limits

DEFAULT_LIMITS: JsonObject = Limits().model_dump()
"""The limits an agent is drawn under when its task's spec is unknown."""

router = APIRouter(tags=["agents"], responses=PROBLEM_RESPONSES, route_class=GuardedRoute)

Digest = Annotated[
    str,
    Path(
        pattern=r"^0x[0-9a-fA-F]{64}$", description="sha256 of the agent's canonical bytes, 0x-hex"
    ),
]


class NetworkOut(BaseModel):
    name: str
    neurons: int
    connections: int
    kinds: dict[str, int]


class AgentSolutionOut(BaseModel):
    task_id: int
    solution_id: int
    solver: str
    verified_score: int | None


class AgentOut(BaseModel):
    digest: str
    cid: str
    size: int
    networks: list[NetworkOut]
    neurons: int
    connections: int
    env: str | None
    spec: JsonObject | None
    score: int | None
    score_explained: str | None = Field(
        default=None,
        description="the best verified score in the environment's terms (cases right, steps to the goal, bits recovered)",
    )
    solutions: list[AgentSolutionOut]
    decodes: bool = Field(description="false: not a valid agent (evaluators attest it 0)")
    error: str | None = Field(default=None, description="why it does not decode")


def _agent_bytes(state: ApiState, db: Any, digest: str) -> bytes:  # Any: a SQLModel Session, passed through to read_model
    data = read_model.agent_bytes(db, digest)
    if data is None and state.content is not None:
        from services.common.content import cid_of_digest

        try:
            data = state.content.get(cid_of_digest(bytes.fromhex(digest[2:])))
        except Exception:
            data = None
    if data is None:
        raise not_found(
            "agent", f"no revealed agent has digest {digest}; agents are published only at reveal"
        )
    return data


def _decode(data: bytes, spec: JsonObject | None) -> bisuna.Agent:
    """Decode under the limits of the task's spec (the schema's defaults when none is known):
    an agent a task would refuse is not drawn either."""
    limits = (spec or {}).get("limits") or DEFAULT_LIMITS
    try:
        return bisuna.Agent.from_bytes(data, limits)
    except bisuna.LimitError as exc:
        raise ProblemError(
            422,
            "agent-beyond-limits",
            "Agent is beyond its task's limits",
            f"this agent exceeds the limits it is drawn under ({exc}); evaluators attest it 0",
        ) from exc
    except bisuna.BisunaError as exc:
        raise ProblemError(
            422,
            "agent-not-decodable",
            "Agent does not decode",
            f"this agent's bytes are not a valid BiSUNA agent ({exc}); evaluators attest it 0",
        ) from exc


def _networks(agent: bisuna.Agent) -> list[NetworkOut]:
    nets = agent.describe()["networks"]
    names = ["alice", "bob"] if len(nets) == 2 else [f"network {i}" for i in range(len(nets))]
    return [
        NetworkOut(
            name=names[i],
            neurons=int(net["inputs"]) + int(net["outputs"]) + int(net["hidden"]),
            connections=int(net["connections"]),
            kinds={
                "input": int(net["inputs"]),
                "output": int(net["outputs"]),
                **net["neurons_by_kind"],
            },
        )
        for i, net in enumerate(nets)
    ]


def _task_spec(
    state: ApiState, db: Any, digest: str, task_id: int | None  # Any: a Session, as above
) -> tuple[JsonObject | None, str | None]:
    """The spec of the task this agent was revealed for (the given one, or its first)."""
    solutions = read_model.solutions_by_agent(db, digest)
    if task_id is not None:
        solutions = [s for s in solutions if s.task_id == task_id]
    for s in solutions:
        task = read_model.get_task(db, s.task_id)
        if task is not None:
            summary = spec_summary(state, task.spec_digest)
            if summary.get("spec") is not None:
                return summary["spec"], task.spec_digest
    return None, None


@router.get("/agents/{digest}", response_model=AgentOut)
def get_agent(digest: Digest, request: Request, response: Response, db: DB, state: State) -> Any:
    """An agent: its networks, neuron kinds, the spec it was revealed for, its best verified score."""
    digest = digest.lower()
    data = _agent_bytes(state, db, digest)
    # A revealed agent may be garbage (the contract checks only its digest): show what is known.
    try:
        agent: bisuna.Agent | None = bisuna.Agent.from_bytes(data)
        error = None
    except bisuna.BisunaError as exc:
        agent, error = None, str(exc)
    solutions = read_model.solutions_by_agent(db, digest)
    spec, _ = _task_spec(state, db, digest, None)
    verified = [s.verified_score for s in solutions if s.verified_score is not None]
    best = max(verified) if verified else None
    from services.api.explain import explain_score

    # Explain the best score against the spec of the task that verified it.
    best_spec = spec
    if best is not None:
        best_task = next(s.task_id for s in solutions if s.verified_score == best)
        best_spec, _ = _task_spec(state, db, digest, best_task)
    from services.common.content import cid_of_digest

    body = AgentOut(
        digest=digest,
        cid=cid_of_digest(bytes.fromhex(digest[2:])),
        size=len(data),
        networks=_networks(agent) if agent is not None else [],
        neurons=agent.neuron_count if agent is not None else 0,
        connections=agent.connection_count if agent is not None else 0,
        env=(spec or {}).get("env", {}).get("name") if spec else None,
        spec=spec,
        score=best,
        score_explained=explain_score(best, best_spec) if best is not None else None,
        solutions=[
            AgentSolutionOut(
                task_id=s.task_id,
                solution_id=s.solution_id,
                solver=s.solver,
                verified_score=s.verified_score,
            )
            for s in solutions
        ],
        decodes=agent is not None,
        error=error,
    )
    etag = etag_of("agent", body.model_dump_json())
    cached = conditional(request, response, etag, REVALIDATE)
    return cached if cached is not None else body


@dataclass(frozen=True)
class _RenderInputs:
    data: bytes
    spec: JsonObject | None
    spec_digest: str | None


def _render_inputs(state: ApiState, digest: str, task: int | None) -> _RenderInputs:
    """The agent's bytes and its task's spec, read in a short session of its own (in a thread)."""
    with Session(state.engine) as db:
        data = _agent_bytes(state, db, digest)
        spec, spec_digest = _task_spec(state, db, digest, task)
    return _RenderInputs(data, spec, spec_digest)


def _image(body: bytes, media_type: str, etag: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={"ETag": etag, "Cache-Control": IMMUTABLE, "content-length": str(len(body))},
    )


@router.get(
    "/agents/{digest}/preview.png",
    response_class=Response,
    responses={
        200: {"content": {"image/png": {}}, "description": "original | encrypted | decrypted"},
        503: {"model": Problem, "description": "Too many renders", "content": {PROBLEM_MEDIA_TYPE: {}}},
    },
)
async def agent_preview(
    digest: Digest,
    request: Request,
    task: Annotated[
        int | None, Query(ge=1, lt=2**63, description="the task whose spec sets the payload")
    ] = None,
) -> Response:
    """For a `cipher` agent: a picture drawn in code, its encryption and its decryption, side by side."""
    state = state_of(request)
    digest = digest.lower()
    found = await asyncio.to_thread(_render_inputs, state, digest, task)
    spec, spec_digest = found.spec, found.spec_digest
    if spec is None or spec_digest is None:
        raise not_found(
            "spec",
            f"the spec of the task agent {digest} was revealed for is not in the content store",
        )
    env = spec.get("env") or {}
    if env.get("name") != "cipher":
        raise ProblemError(
            422,
            "no-preview",
            "No preview for this environment",
            f"previews exist for cipher agents; this one solves {env.get('name')!r}",
        )
    etag = etag_of("preview", digest, spec_digest)
    if not_modified(request, etag):
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": IMMUTABLE})

    png = await state.renders.get(
        ("preview", digest, spec_digest), render_preview, found.data, spec, digest
    )
    return _image(png, "image/png", etag)


def render_preview(data: bytes, spec: JsonObject, digest: str) -> bytes:
    """A cipher preview PNG (runs in a render worker process)."""
    from services.api import preview

    agent = _decode(data, spec)
    seed = bisuna.derive_seed(bytes.fromhex(digest[2:]), "preview")
    try:
        return preview.render_png(agent, seed=seed)
    except bisuna.BisunaError as exc:
        raise ProblemError(422, "no-preview", "Agent cannot run this preview", str(exc)) from exc


def render_graph(kind: str, data: bytes, spec: JsonObject | None) -> bytes:
    """The agent's graph as SVG or DOT (runs in a render worker process)."""
    from services.api import preview

    agent = _decode(data, spec)
    drawn = agent.neuron_count + agent.connection_count
    if drawn > MAX_DRAWN:
        raise ProblemError(
            422,
            "render-too-large",
            "Agent too large to draw",
            f"this agent has {drawn} neurons and connections; graphs are drawn up to {MAX_DRAWN}",
        )
    text: str = preview.render_svg(agent) if kind == "svg" else agent.to_dot()
    return text.encode()


async def _graph(request: Request, digest: str, kind: str) -> bytes:
    state = state_of(request)
    found = await asyncio.to_thread(_render_inputs, state, digest, None)
    return await state.renders.get(
        (kind, digest, found.spec_digest), render_graph, kind, found.data, found.spec
    )


MAX_DRAWN = 20_000
"""The most neurons plus connections a graph route draws (the SVG is ~150 bytes per element)."""


@router.get(
    "/agents/{digest}/graph.dot",
    response_class=Response,
    responses={
        200: {
            "content": {"text/vnd.graphviz": {}},
            "description": "the agent's networks in Graphviz DOT",
        },
        503: {"model": Problem, "description": "Too many renders", "content": {PROBLEM_MEDIA_TYPE: {}}},
    },
)
async def agent_graph(digest: Digest, request: Request) -> Response:
    """The agent's networks as a Graphviz graph (render with `dot -Tsvg`)."""
    digest = digest.lower()
    etag = etag_of("dot", digest)
    if not_modified(request, etag):
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": IMMUTABLE})
    dot = await _graph(request, digest, "dot")
    return _image(dot, "text/vnd.graphviz; charset=utf-8", etag)


@router.get(
    "/agents/{digest}/graph.svg",
    response_class=Response,
    responses={
        200: {"content": {"image/svg+xml": {}}, "description": "the agent's networks drawn"},
        503: {"model": Problem, "description": "Too many renders", "content": {PROBLEM_MEDIA_TYPE: {}}},
    },
)
async def agent_graph_svg(digest: Digest, request: Request) -> Response:
    """The agent's networks as an SVG picture: neurons coloured by kind, connections as arrows."""
    digest = digest.lower()
    etag = etag_of("svg", digest)
    if not_modified(request, etag):
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": IMMUTABLE})
    svg = await _graph(request, digest, "svg")
    return _image(svg, "image/svg+xml", etag)
