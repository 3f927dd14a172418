"""`edgemarket spec`: commented spec templates for every environment, and a check of a spec file.

Templates are JSON with `//` comments (JSONC). Every command that reads a spec file (`task
create`, `evolve`, `score`, `spec check`) strips the comments first; what is stored and hashed
is always the canonical JSON without them.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Annotated

import typer

from services.cli.inputs import load_spec_file

app = typer.Typer(help="Task specs: templates and checks.", no_args_is_help=True)

# What each environment is and what its parameters mean, for the template's comments. The
# parameter names themselves come from the core (bisuna.bindings.ENV_PARAMS); a unit test
# keeps this table and the core's list of environments the same.
ENVIRONMENTS: dict[str, tuple[str, dict[str, tuple[int | str, str]], int]] = {
    "cipher": (
        "Alice encrypts 16-bit words with a shared key, Bob decrypts them, and attackers "
        "without the key try to read them. Score: the share of bits Bob recovers that the "
        "attackers cannot.",
        {
            "payload_words": (4, "16-bit words per message, 1..16 (more is harder)"),
            "mix": (
                "none",
                '"none": the key beside the words (a winner learns to encrypt); "xor": K xor P',
            ),
        },
        512,
    ),
    "multiplexer-6": (
        "The 6-multiplexer: 2 address bits pick one of 4 data bits. Score: the share of the "
        "64 input cases answered right (61 of 64 is 0.953125).",
        {},
        4096,
    ),
    "multiplexer-11": (
        "The 11-multiplexer: 3 address bits pick one of 8 data bits. Score: the share of the "
        "2048 input cases answered right.",
        {},
        4096,
    ),
    "parity-n": (
        "Parity of n input bits. Score: the share of the 2^n cases answered right.",
        {"n": (3, "input bits, 2..16")},
        4096,
    ),
    "mountain-car": (
        "Drive an under-powered car up a hill. Score: how soon it reaches the goal, averaged "
        "over the evaluation's episodes.",
        {"max_steps": (1000, "steps before an episode ends without reaching the goal, 1..100000")},
        16,
    ),
}


def template(env: str) -> str:
    """A commented spec for `env`, valid as it stands (`spec check` accepts it)."""
    from services.common.spec import Budget, Limits, known_scorers

    about, params, samples = ENVIRONMENTS[env]
    budget, limits = Budget(), Limits()
    scorer = known_scorers()[-1]  # the newest: bisuna-core/2 bounds every evaluation (fuel)
    lines = [
        f"// An edgemarket/task@1 spec for {env}. `//` comments are dropped when it is read;",
        "// the stored spec is canonical JSON. Every field but `scorer` and `env` has a default.",
        "{",
        '  "schema": "edgemarket/task@1",',
        f"  // The scorer every evaluator runs; this core knows: {', '.join(known_scorers())}.",
        "  // bisuna-core/2 bounds each evaluation's work (fuel): a hostile agent scores 0",
        "  // instead of stalling the evaluators. /1 stays for tasks created before it.",
        f'  "scorer": "{scorer}",',
        *(f"  // {line}" for line in textwrap.wrap(about, 90)),
    ]
    items = list(params.items())
    if not items:
        lines.append(f'  "env": {{"name": "{env}", "params": {{}}}},')
    else:
        lines.append(f'  "env": {{"name": "{env}", "params": {{')
        for i, (name, (value, meaning)) in enumerate(items):
            comma = "," if i < len(items) - 1 else ""
            shown = f'"{value}"' if isinstance(value, str) else str(value)
            lines.append(f"    // {meaning}")
            lines.append(f'    "{name}": {shown}{comma}')
        lines.append("  }},")
    lines += [
        "  // Cases (episodes for mountain-car) per evaluation, drawn from the chain's seed.",
        f'  "eval": {{"samples": {samples}}},',
        "  // What a solver is expected to spend: population per island, generations,",
        "  // islands, and generations between migrations.",
        f'  "budget": {{"population": {budget.population}, "generations": {budget.generations}, '
        f'"islands": {budget.islands}, "epoch_generations": {budget.epoch_generations}}},',
        "  // The largest agent accepted, per network (neurons count inputs and outputs too).",
        f'  "limits": {{"max_neurons": {limits.max_neurons}, '
        f'"max_connections": {limits.max_connections}, '
        f'"max_agent_bytes": {limits.max_agent_bytes}}},',
        f'  "title": "{env} task",',
        '  "description": ""',
        "}",
    ]
    return "\n".join(lines) + "\n"


@app.command("new")
def new(
    env: Annotated[str, typer.Argument(help="The environment: " + ", ".join(ENVIRONMENTS) + ".")],
) -> None:
    """Print a commented, valid spec template for an environment (save it, edit it, create)."""
    if env not in ENVIRONMENTS:
        raise typer.BadParameter(
            f"unknown environment {env!r}; choose one of {', '.join(ENVIRONMENTS)}"
        )
    typer.echo(template(env), nl=False)


@app.command("check")
def check(spec: Annotated[Path, typer.Argument(help="A spec file (JSON or JSONC).")]) -> None:
    """Check a spec file as `task create` would (valid, known scorer, limits the core accepts)."""
    task_spec = load_spec_file(spec, runnable=True)
    typer.echo(
        f"{spec}: valid {task_spec.env.name} spec, scorer {task_spec.scorer}, "
        f"{len(task_spec.to_bytes())} bytes stored"
    )


@app.command("schema")
def schema() -> None:
    """Print the JSON Schema of edgemarket/task@1."""
    import json

    from services.common.spec import task_spec_json_schema

    typer.echo(json.dumps(task_spec_json_schema(), indent=2))
