"""Checks before any money moves: a task the stack cannot work is never created.

`edgemarket task create`, the library's `create_task` and the page's POST /tx/create-task run
the same checks: the spec is retrievable from the content store the stack's services read, it
is valid with a scorer and limits this core accepts, and the evaluators are valid addresses.
A failure raises TaskCheckError whose message says what is wrong and how to fix it.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.content import ContentError, ContentStore
from services.common.spec import SpecError, TaskSpec, check_runnable, parse_spec

MAX_EVALUATORS = 5
ZERO_ADDRESS = "0x" + "0" * 40


class TaskCheckError(ValueError):
    """A task would be created that its stack cannot work; nothing was sent."""


def check_spec(spec: TaskSpec) -> None:
    """Valid, with a scorer and limits this core accepts."""
    try:
        check_runnable(spec)
    except SpecError as exc:
        raise TaskCheckError(f"nothing sent: {exc}") from None


def check_evaluators(evaluators: Sequence[str], *, hint: str = "") -> list[str]:
    """1 to 5 distinct, non-zero addresses (EIP-55 checksummed if mixed case); checksummed."""
    from eth_utils.address import is_address, is_checksum_address, to_checksum_address

    fix = hint or "pass each evaluator's 0x address (40 hex digits) with -e"
    if not 1 <= len(evaluators) <= MAX_EVALUATORS:
        raise TaskCheckError(
            f"nothing sent: a task needs 1 to {MAX_EVALUATORS} evaluators, got "
            f"{len(evaluators)}; {fix}"
        )
    out: list[str] = []
    for raw in evaluators:
        text = raw.strip()
        if not is_address(text) or not text.startswith("0x"):
            raise TaskCheckError(f"nothing sent: evaluator {raw!r} is not an address; {fix}")
        body = text[2:]
        if body != body.lower() and body != body.upper() and not is_checksum_address(text):
            raise TaskCheckError(
                f"nothing sent: evaluator {raw} has a wrong EIP-55 checksum (a typo?); {fix}"
            )
        if text.lower() == ZERO_ADDRESS:
            raise TaskCheckError(f"nothing sent: the zero address cannot evaluate; {fix}")
        address = to_checksum_address(text)
        if address in out:
            raise TaskCheckError(f"nothing sent: evaluator {address} is listed twice; {fix}")
        out.append(address)
    return out


def check_retrievable(spec_cid: str, store: ContentStore, *, where: str, fix: str) -> TaskSpec:
    """The spec is in `store` (the one the stack's services read) and is the same spec."""
    try:
        data = store.get(spec_cid)
    except ContentError as exc:
        raise TaskCheckError(
            f"nothing sent: the stack's services could not read spec {spec_cid} from {where} "
            f"({exc}); {fix}"
        ) from None
    try:
        return parse_spec(data, cid=spec_cid)
    except SpecError as exc:
        raise TaskCheckError(f"nothing sent: {exc}") from None

