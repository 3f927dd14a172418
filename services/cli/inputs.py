"""What several CLI commands share: reading specs and agents given on the command line."""

from __future__ import annotations

from pathlib import Path

import typer

from services.common.spec import SpecError, TaskSpec, parse_spec


def load_spec_file(path: Path) -> TaskSpec:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise typer.BadParameter(f"cannot read spec {path}: {exc.strerror}") from exc
    try:
        return parse_spec(data)
    except SpecError as exc:
        raise typer.BadParameter(str(exc)) from exc


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
