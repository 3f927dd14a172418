"""What several CLI commands share: reading specs and agents given on the command line."""

from __future__ import annotations

from pathlib import Path

import typer

from services.common.spec import SpecError, TaskSpec, parse_spec


def strip_comments(text: str) -> str:
    """JSONC to JSON: drop `//` comments (to the end of the line) outside strings."""
    out: list[str] = []
    in_string = escaped = False
    i = 0
    while i < len(text):
        c = text[i]
        if in_string:
            out.append(c)
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
            out.append(c)
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)


def load_spec_file(path: Path, *, runnable: bool = False) -> TaskSpec:
    """A spec file (JSON, or JSONC with `//` comments as `spec new` writes); with `runnable`,
    also refuse a scorer or limits this core cannot run."""
    from services.common.spec import check_runnable

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise typer.BadParameter(f"cannot read spec {path}: {exc.strerror}") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise typer.BadParameter(f"spec {path} is not UTF-8 text") from exc
    try:
        spec = parse_spec(strip_comments(text))
        if runnable:
            check_runnable(spec)
    except SpecError as exc:
        raise typer.BadParameter(f"{path}: {exc}") from exc
    return spec


def read_hex(value: str, what: str, length: int | None = None) -> bytes:
    raw = value.strip().removeprefix("0x")
    try:
        out = bytes.fromhex(raw)
    except ValueError as exc:
        raise typer.BadParameter(f"{what} is not hex: {value[:20]!r}") from exc
    if length is not None and len(out) != length:
        raise typer.BadParameter(f"{what} must be {length} bytes ({2 * length} hex digits)")
    return out


def load_agent_arg(value: str) -> bytes:
    """An agent given as a file path, as 0x-hex bytes, or as a CID/digest in the content store."""
    path = Path(value)
    if path.exists():
        return path.read_bytes()
    if value.startswith("0x") and len(value) != 66:
        return read_hex(value, "agent")
    from services.common.content import (
        ContentError,
        cid_of_digest,
        open_content_store,
    )
    from services.common.settings import get_settings

    cid = cid_of_digest(read_hex(value, "agent digest", 32)) if value.startswith("0x") else value
    try:
        return open_content_store(get_settings()).get(cid)
    except ContentError as exc:
        raise typer.BadParameter(f"agent {value}: {exc}") from exc


def neuron_summary(description: dict[str, list[dict[str, int]]]) -> str:
    """Neuron counts as `evolve` and `agent show` both print them: the total, then inputs,
    outputs and hidden neurons summed over the networks (`bisuna.Agent.describe()`)."""
    nets = description["networks"]
    ins = sum(int(n["inputs"]) for n in nets)
    outs = sum(int(n["outputs"]) for n in nets)
    hidden = sum(int(n["hidden"]) for n in nets)
    return f"{ins + outs + hidden} neurons ({ins} in, {outs} out, {hidden} hidden)"
