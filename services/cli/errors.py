"""Known failures of a CLI command as one line: what is wrong and how to fix it.

`edgemarket` catches what `explain` knows and prints its line (exit status 1); anything else
is a bug and keeps its traceback. `--debug` shows the traceback for everything.
"""

from __future__ import annotations

from services.cli.stack import StackFileError, active_stack


def _no_chain(url: str) -> str:
    stack = active_stack()
    if stack is not None:
        return (
            f"the stack at {stack.run_dir} is not running (nothing answers at {url}); "
            f"start it with `edgemarket up --run-dir {stack.run_dir}` and wait for its block"
        )
    return (
        f"no chain answers at {url}; start one with `edgemarket up` and use the "
        "`export EDGEMARKET_STACK=...` line it prints (or pass --stack RUN_DIR), "
        "or set EDGEMARKET_RPC_URL to your node"
    )


def _no_deployment(message: str) -> str:
    stack = active_stack()
    if stack is not None:
        # Never suggest `contract deploy` here: the stack's services watch their own contract.
        return (
            f"the stack at {stack.run_dir} has no contract deployment at {stack.deployment_file}; "
            f"restart it with `edgemarket up --run-dir {stack.run_dir}` (do not deploy another "
            "contract: the stack's services would not watch it)"
        )
    return message


def explain(exc: BaseException) -> str | None:
    """The one-line message for a failure a user can fix, or None for a bug."""
    import requests
    from pydantic import ValidationError

    from services.common.chain import ChainError, ContractError
    from services.common.chain.errors import DeploymentError, RpcUnavailableError
    from services.common.content import ContentError
    from services.common.keys import KeystoreError
    from services.common.settings import SettingsError, get_settings
    from services.common.spec import SpecError
    from services.common.task_checks import TaskCheckError

    if isinstance(exc, TaskCheckError | StackFileError | SpecError | KeystoreError | SettingsError):
        return str(exc)
    if isinstance(exc, requests.exceptions.ConnectionError | RpcUnavailableError):
        try:
            url = get_settings().rpc_url
        except Exception:
            url = "the RPC URL"
        return _no_chain(url)
    if isinstance(exc, DeploymentError):
        return _no_deployment(str(exc))
    if isinstance(exc, ChainError):
        return f"chain: {exc}"
    if isinstance(exc, ContractError):
        return f"the contract refused: {exc}"
    if isinstance(exc, ContentError):
        return f"content store: {exc}; check EDGEMARKET_CONTENT_STORE (or use --stack RUN_DIR)"
    if isinstance(exc, ValidationError) and exc.title in ("Settings", "ApiSettings"):
        first = exc.errors()[0]
        name = "EDGEMARKET_" + "_".join(str(p) for p in first["loc"]).upper()
        return f"setting {name}: {first['msg']}; fix or unset it"
    try:
        import redis

        if isinstance(exc, redis.exceptions.ConnectionError):
            return (
                f"cannot reach Redis ({exc}); start the stack with `edgemarket up` or set "
                "EDGEMARKET_REDIS_URL"
            )
    except ImportError:  # pragma: no cover - redis is a dependency
        pass
    return None
