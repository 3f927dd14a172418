"""GET /agents/{digest}, its cipher preview (PNG) and its graph (DOT)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field

import bisuna
from services.api.deps import DB, IMMUTABLE, REVALIDATE, ApiState, State, conditional, etag_of
from services.api.problems import PROBLEM_RESPONSES, ProblemError, not_found
from services.api.routes import read_model
from services.api.routes.tasks import spec_summary
from services.common.json_input import JsonObject

router = APIRouter(tags=["agents"], responses=PROBLEM_RESPONSES)

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


def _decode(data: bytes) -> bisuna.Agent:
    try:
        return bisuna.Agent.from_bytes(data)
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
            if summary:
                return summary.get("spec"), task.spec_digest
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
        score=max(verified) if verified else None,
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


@router.get(
    "/agents/{digest}/preview.png",
    response_class=Response,
    responses={
        200: {"content": {"image/png": {}}, "description": "original | encrypted | decrypted"}
    },
)
async def agent_preview(
    digest: Digest,
    request: Request,
    db: DB,
    state: State,
    task: Annotated[
        int | None, Query(ge=1, lt=2**63, description="the task whose spec sets the payload")
    ] = None,
) -> Response:
    """For a `cipher` agent: a picture drawn in code, its encryption and its decryption, side by side."""
    import bisuna
    from services.api import preview

    digest = digest.lower()
    data = _agent_bytes(state, db, digest)
    spec, spec_digest = _task_spec(state, db, digest, task)
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
    response = Response(media_type="image/png")
    cached = conditional(request, response, etag, IMMUTABLE)
    if cached is not None:
        return cached
    png: bytes | None = state.previews.get((digest, spec_digest))
    if png is None:
        agent = _decode(data)
        seed = bisuna.derive_seed(bytes.fromhex(digest[2:]), "preview")
        try:
            # The C core releases the GIL: render off the event loop.
            png = await asyncio.to_thread(preview.render_png, agent, seed=seed)
        except bisuna.BisunaError as exc:
            raise ProblemError(
                422, "no-preview", "Agent cannot run this preview", str(exc)
            ) from exc
        if len(state.previews) > 256:
            state.previews.clear()
        state.previews[(digest, spec_digest)] = png
    assert png is not None
    response.body = png
    response.headers["content-length"] = str(len(png))
    return response


@router.get(
    "/agents/{digest}/graph.dot",
    response_class=Response,
    responses={
        200: {
            "content": {"text/vnd.graphviz": {}},
            "description": "the agent's networks in Graphviz DOT",
        }
    },
)
def agent_graph(digest: Digest, request: Request, db: DB, state: State) -> Response:
    """The agent's networks as a Graphviz graph (render with `dot -Tsvg`)."""
    digest = digest.lower()
    etag = etag_of("dot", digest)
    response = Response(media_type="text/vnd.graphviz; charset=utf-8")
    cached = conditional(request, response, etag, IMMUTABLE)
    if cached is not None:
        return cached
    agent = _decode(_agent_bytes(state, db, digest))
    dot: str = agent.to_dot()
    response.body = dot.encode()
    response.headers["content-length"] = str(len(response.body))
    return response


@router.get(
    "/agents/{digest}/graph.svg",
    response_class=Response,
    responses={
        200: {"content": {"image/svg+xml": {}}, "description": "the agent's networks drawn"}
    },
)
def agent_graph_svg(digest: Digest, request: Request, db: DB, state: State) -> Response:
    """The agent's networks as an SVG picture: neurons coloured by kind, connections as arrows."""
    from services.api import preview

    digest = digest.lower()
    data = _agent_bytes(state, db, digest)
    etag = etag_of("svg", digest)
    response = Response(media_type="image/svg+xml")
    cached = conditional(request, response, etag, IMMUTABLE)
    if cached is not None:
        return cached
    response.body = preview.render_svg(_decode(data)).encode()
    response.headers["content-length"] = str(len(response.body))
    return response
