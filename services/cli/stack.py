"""A running `edgemarket up` stack as the CLI sees it: `<run-dir>/stack.json` and `<run-dir>/env`.

`up` and `demo` write both once the stack answers. `--stack RUN_DIR` (or EDGEMARKET_STACK) reads
stack.json and points every setting the CLI needs at that stack: RPC URL, chain id, deployment,
content store, Redis, read model, and (unless you set your own key) the requester's dev key.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

STACK_FILE = "stack.json"
ENV_FILE = "env"
MARKER = ".edgemarket-run"


class StackFileError(ValueError):
    """`--stack` names a directory that is not a usable `edgemarket up` run dir."""


@dataclass(frozen=True)
class StackInfo:
    """What a client needs to use a running stack."""

    run_dir: str
    page_url: str
    rpc_url: str
    chain_id: int
    redis_url: str
    database_url: str
    content_store: str
    deployment_file: str
    evaluators: list[str]
    requester: str
    # anvil's published dev key of the requester's account (index 0): refused off chain 31337.
    requester_key: str
    stream: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    def settings_env(self) -> dict[str, str]:
        """The EDGEMARKET_* variables that point a CLI command at this stack."""
        env = {
            "EDGEMARKET_RPC_URL": self.rpc_url,
            "EDGEMARKET_CHAIN_ID": str(self.chain_id),
            "EDGEMARKET_REDIS_URL": self.redis_url,
            "EDGEMARKET_DATABASE_URL": self.database_url,
            "EDGEMARKET_CONTENT_STORE": self.content_store,
            "EDGEMARKET_DEPLOYMENT_FILE": self.deployment_file,
        }
        if self.stream:
            env["EDGEMARKET_STREAM"] = self.stream
        return env


def usage_block(info: StackInfo, *, keeper: str, scheduler: str) -> str:
    """The short text `up` and `demo` print and write to `<run-dir>/env` (a shell file: every
    line but the export is a comment)."""
    run_dir = info.run_dir
    lines = [
        "# ---- your Edge Marketplace stack ----",
        f"# the page:    {info.page_url}/   (the API: {info.page_url}/docs)",
        "# the CLI, in another shell (or: source " + str(Path(run_dir) / ENV_FILE) + "):",
        f"export EDGEMARKET_STACK={run_dir}",
        "#   every `edgemarket` command then talks to this stack: chain, contract, content store",
        "#   and, unless EDGEMARKET_PRIVATE_KEY or EDGEMARKET_KEYSTORE is set, the requester's key.",
        f"# requester (you): {info.requester}  anvil dev account 0, funded with 10000 TFUEL",
        "# evaluators running (give them to `task create -e`):",
        *(f"#   {address}" for address in info.evaluators),
        f"# not yours: the scheduler's solver {scheduler}, the keeper {keeper}",
        "# first task: edgemarket spec new multiplexer-6 > spec.jsonc && edgemarket task create "
        "--spec spec.jsonc --bounty 1 " + " ".join(f"-e {a}" for a in info.evaluators),
    ]
    return "\n".join(lines) + "\n"


def write_stack_files(info: StackInfo, block: str) -> None:
    """stack.json and env, readable by their owner only (they name a dev key)."""
    run_dir = Path(info.run_dir)
    for name, text in ((STACK_FILE, info.to_json()), (ENV_FILE, block)):
        path = run_dir / name
        tmp = run_dir / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)


def load_stack(run_dir: Path | str) -> StackInfo:
    """The stack `edgemarket up --run-dir RUN_DIR` describes in RUN_DIR/stack.json."""
    path = Path(run_dir)
    if not path.is_dir():
        raise StackFileError(
            f"--stack {run_dir}: no such directory; give the --run-dir of a running "
            "`edgemarket up` (default .edgemarket/up)"
        )
    file = path / STACK_FILE
    if not file.exists():
        if (path / MARKER).exists():
            raise StackFileError(
                f"--stack {run_dir}: the stack has not finished starting (no {STACK_FILE} yet); "
                "wait for `edgemarket up` to print its block"
            )
        raise StackFileError(
            f"--stack {run_dir} is not an `edgemarket up` run dir (no {STACK_FILE}); "
            "give the directory `up` printed in its EDGEMARKET_STACK line"
        )
    try:
        data = json.loads(file.read_text())
        return StackInfo(**data)
    except (ValueError, TypeError) as exc:
        raise StackFileError(f"{file} is not a stack file: {exc}") from None


_active: StackInfo | None = None


def active_stack() -> StackInfo | None:
    """The stack `--stack`/EDGEMARKET_STACK selected for this command, if any."""
    return _active


def use_stack(run_dir: Path | str) -> StackInfo:
    """Point this process's settings at the stack: its connection settings win over the
    environment's; its requester key is used only if no key of your own is configured."""
    global _active
    info = load_stack(run_dir)
    os.environ.update(info.settings_env())
    if not os.environ.get("EDGEMARKET_PRIVATE_KEY") and not os.environ.get("EDGEMARKET_KEYSTORE"):
        os.environ["EDGEMARKET_PRIVATE_KEY"] = info.requester_key
    from services.common.settings import get_settings

    get_settings.cache_clear()
    _active = info
    return info


def stack_of_deployment(deployment_file: Path) -> StackInfo | None:
    """The stack whose run dir holds this deployment file, if it is one (its services read the
    stack's content store, whatever this shell's EDGEMARKET_CONTENT_STORE says)."""
    run_dir = deployment_file.resolve().parent
    if not (run_dir / STACK_FILE).exists():
        return None
    try:
        return load_stack(run_dir)
    except StackFileError:
        return None
