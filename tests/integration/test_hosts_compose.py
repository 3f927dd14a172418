"""compose.yaml run without Docker: every service it declares started on a test host of its own
(named as compose names it, so `redis`, `postgres`, `kubo` and `anvil` resolve as they do on a
compose network), with the command, settings and secrets compose would give it, from one .env
file filled in as .env.example tells a user. Then a task goes through to a verified payout and
the API reports it.

What stands in for an image: `edgemarket:latest` is this checkout (its venv's `edgemarket`,
node_modules' anvil); `redis:7-alpine` is the machine's redis-server running compose's own
command; `postgres:16-alpine` is the machine's PostgreSQL set up as that image's entrypoint
does (POSTGRES_USER, _PASSWORD, _DB, password auth from any address); `ipfs/kubo` is
`edgemarket content serve` on Kubo's RPC port (the Kubo RPC subset the services use). A
volume is a directory shared by the hosts that mount it; a container path in a setting is
mapped to it (or to the host's own directory when no volume is mounted there).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.fixtures.hosted_market import (
    ANVIL,
    DEMO_SPEC,
    EDGEMARKET,
    base_env,
    cmdline_of,
    descendants,
)
from tests.fixtures.hosts import (
    PROJECT_ROOT,
    Host,
    HostsError,
    Network,
    Process,
    read_env_file,
    wait_for,
    write_env_file,
)
from tests.fixtures.services import free_port

pytestmark = [pytest.mark.slow]

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


class ComposeError(ValueError):
    """compose.yaml asks for something this check cannot give, or a variable is missing."""


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's variable substitution: $$, ${V}, ${V:-default}, ${V-default}, ${V:?error}."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.group(1), m.group(2), m.group(3) or ""
        val = env.get(name)
        if op == ":-":
            return val if val else arg
        if op == "-":
            return val if val is not None else arg
        if op in (":?", "?") and (val is None or (op == ":?" and not val)):
            raise ComposeError(f"{name}: {arg}")
        return val or ""

    return _VAR.sub(sub, value)


def _interpolate_all(node: Any, env: Mapping[str, str]) -> Any:  # Any: YAML's tree
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [_interpolate_all(x, env) for x in node]
    if isinstance(node, dict):
        return {k: _interpolate_all(v, env) for k, v in node.items()}
    return node


def _as_dict(environment: Any) -> dict[str, str]:  # Any: a mapping or a KEY=value list
    if environment is None:
        return {}
    if isinstance(environment, list):
        return dict(str(item).split("=", 1) for item in environment)
    return {str(k): "" if v is None else str(v) for k, v in environment.items()}


@dataclass
class Compose:
    """compose.yaml's services, interpolated from the .env file, run on test hosts."""

    network: Network
    root: Path
    dotenv: dict[str, str]
    services: dict[str, dict[str, Any]]
    hosts: dict[str, Host] = field(default_factory=dict)
    procs: dict[str, Process] = field(default_factory=dict)
    volumes: dict[str, Path] = field(default_factory=dict)

    def volume(self, name: str) -> Path:
        path = self.volumes.setdefault(name, self.root / "volumes" / name)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def mounts(self, service: str) -> dict[str, Path]:
        """container path -> the directory standing in for the volume mounted there."""
        found: dict[str, Path] = {}
        for spec in self.services[service].get("volumes", []):
            source, _, target = str(spec).partition(":")
            found[target.split(":")[0]] = self.volume(source)
        return found

    def environment(self, service: str, name: str | None = None) -> dict[str, str]:
        """What compose gives the container: env_file, then `environment`, paths mapped."""
        svc = self.services[service]
        env: dict[str, str] = {}
        env_files = svc.get("env_file", [])
        for env_file in [env_files] if isinstance(env_files, str) else env_files:
            env.update(read_env_file(self.root / env_file))
        env.update(_as_dict(svc.get("environment")))
        host = self.hosts[name or service]
        mounts = self.mounts(service)
        for key, value in env.items():
            if not value.startswith("/"):
                continue
            for target, source in mounts.items():
                if value == target or value.startswith(target + "/"):
                    env[key] = str(source) + value[len(target) :]
                    break
            else:
                if value.startswith(("/state", "/deployments", "/data")):
                    env[key] = str(host.dir / value.lstrip("/"))
        return env

    def argv(self, service: str) -> list[str]:
        command = [str(x) for x in self.services[service]["command"]]
        image = str(self.services[service].get("image", ""))
        if image.startswith("edgemarket"):
            if command[0] == "edgemarket":
                return [EDGEMARKET, *command[1:]]
            if command[0] == "anvil":
                return [str(ANVIL), *command[1:], "--silent"]
        if image.startswith("redis:"):
            return command  # compose's own command, the machine's redis-server
        raise ComposeError(f"{service}: no stand-in for image {image!r} running {command}")

    def start(self, service: str, name: str | None = None) -> Process:
        name = name or service
        host = self.hosts[name]
        env_file = write_env_file(host.dir / "container.env", self.environment(service, name))
        env = {**base_env(host.dir), **read_env_file(env_file)}
        # the image's working directory: the project (/app) for ours, the data volume for Redis
        image = str(self.services[service].get("image", ""))
        cwd = (
            PROJECT_ROOT
            if image.startswith("edgemarket")
            else self.mounts(service).get("/data", host.dir)
        )
        process = host.run(name, self.argv(service), env, cwd=cwd)
        self.procs[name] = process
        return process

    def healthy(self, service: str, name: str | None = None) -> bool:
        """Run the service's own healthcheck inside its host."""
        test = self.services[service]["healthcheck"]["test"]
        if test[0] == "CMD-SHELL":
            argv = ["sh", "-c", test[1]]
        elif test[0] == "CMD":
            argv = list(test[1:])
            if argv[0] == "python":
                argv[0] = str(Path(EDGEMARKET).with_name("python"))
        else:
            raise ComposeError(f"{service}: healthcheck {test[0]!r} is not CMD or CMD-SHELL")
        host = self.hosts[name or service]
        env = {**base_env(host.dir), **self.environment(service, name)}
        if service == "postgres":  # the image has its tools on PATH and its socket at the default
            env["PATH"] = f"{_pg_bindir()}:{env['PATH']}"
            env["PGHOST"] = (self.root / "pgdata-path").read_text()
        return host.exec(argv, env, timeout=30).returncode == 0


def _pg_bindir() -> Path:
    bindir = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None)
    if bindir is None:
        raise HostsError("PostgreSQL is not installed: run `make test` (it installs it)")
    return bindir


def _start_postgres(c: Compose) -> Process:
    """postgres:16-alpine's entrypoint: a cluster owned by POSTGRES_USER with its password,
    POSTGRES_DB created, password (scram) auth from any address."""
    env = c.environment("postgres")
    host = c.hosts["postgres"]
    bindir = _pg_bindir()
    data = Path(tempfile.mkdtemp(prefix="edgemarket-compose-pg-"))  # reachable by postgres
    c.root.joinpath("pgdata-path").write_text(str(data))
    shutil.chown(data, "postgres")
    pwfile = data / "pw"
    pwfile.write_text(env["POSTGRES_PASSWORD"])
    shutil.chown(pwfile, "postgres")
    pwfile.chmod(0o600)
    pgdata = data / "pgdata"
    init = subprocess.run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            str(bindir / "initdb"),
            "-D",
            str(pgdata),
            "-U",
            env["POSTGRES_USER"],
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    pwfile.unlink()
    if init.returncode != 0:
        raise HostsError(f"initdb: {init.stderr[-500:]}")
    with (pgdata / "pg_hba.conf").open("a") as f:
        f.write("host all all all scram-sha-256\n")
    process = host.run(
        "postgres",
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            str(bindir / "postgres"),
            "-D",
            str(pgdata),
            "-c",
            "listen_addresses=*",
            "-c",
            f"unix_socket_directories={data}",
            "-p",
            "5432",
        ],
        base_env(host.dir),
    )
    c.procs["postgres"] = process
    import psycopg

    dsn = f"postgresql://{env['POSTGRES_USER']}@{host.ip}:5432/postgres"

    def created() -> bool:
        with psycopg.connect(
            dsn, password=env["POSTGRES_PASSWORD"], autocommit=True, connect_timeout=3
        ) as conn:
            conn.execute(f'CREATE DATABASE "{env["POSTGRES_DB"]}"')
        return True

    wait_for("postgres", created, 60, 0.5)
    return process


def _dotenv(root: Path, keys: list[str]) -> dict[str, str]:
    """.env.example filled in as it tells a user: passwords, one key per role (anvil's dev
    keys: the chain is the local one), a shorter commit margin for the test's short task."""
    example = (PROJECT_ROOT / ".env.example").read_text()
    fill = {
        "REDIS_PASSWORD": secrets.token_hex(24),
        "POSTGRES_PASSWORD": secrets.token_hex(24),
        "DEPLOYER_PRIVATE_KEY": keys[0],
        "SOLVER_PRIVATE_KEY": keys[1],
        "EVALUATOR_1_PRIVATE_KEY": keys[2],
        "EVALUATOR_2_PRIVATE_KEY": keys[3],
        "EVALUATOR_3_PRIVATE_KEY": keys[4],
        "KEEPER_PRIVATE_KEY": keys[5],
    }
    lines = []
    for line in example.splitlines():
        key = line.split("=", 1)[0]
        lines.append(f"{key}={fill.pop(key)}" if key in fill and line.endswith("=") else line)
    assert not fill, f".env.example no longer has {sorted(fill)}"
    lines += ["EDGEMARKET_COMMIT_MARGIN=8", "EDGEMARKET_KEEPER_INTERVAL=1"]
    (root / ".env").write_text("\n".join(lines) + "\n")
    (root / ".env").chmod(0o600)
    return read_env_file(root / ".env")


def _anvil_keys() -> list[str]:
    """anvil's dev keys, in account order, from anvil itself (its --config-out)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "anvil.json"
        proc = subprocess.Popen(
            [
                str(ANVIL),
                "--port",
                str(free_port()),
                "--host",
                "127.0.0.1",
                "--silent",
                "--config-out",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(
                "anvil's config",
                lambda: out.exists() and out.stat().st_size and json.loads(out.read_text()),
                60,
                0.2,
            )
            return list(json.loads(out.read_text())["private_keys"])
        finally:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Compose]:
    root = tmp_path_factory.mktemp("compose")
    dotenv = _dotenv(root, _anvil_keys())
    raw = yaml.safe_load((PROJECT_ROOT / "compose.yaml").read_text())
    services = {
        name: _interpolate_all(svc, dotenv)
        for name, svc in raw["services"].items()
        if not svc.get("profiles") or "local-chain" in svc["profiles"]
    }
    network = Network(root)
    c = Compose(network, root, dotenv, services)
    try:
        for name in services:
            if name == "worker":
                for n in (1, 2):  # `--scale worker=2`
                    c.hosts[f"worker-{n}"] = network.add_host(f"worker-{n}")
            else:
                c.hosts[name] = network.add_host(name)
        network.wait_connected()
        # the backends, then the one-shot deploy, then every service (compose's depends_on)
        c.start("anvil")
        c.start("redis")
        _start_postgres(c)
        kubo = c.hosts["kubo"]
        c.procs["kubo"] = kubo.run(
            "kubo",
            [
                EDGEMARKET,
                "content",
                "serve",
                "--dir",
                str(c.volume("ipfs")),
                "--host",
                "0.0.0.0",
                "--port",
                "5001",
            ],
            base_env(kubo.dir),
        )
        wait_for("redis to be healthy", lambda: c.healthy("redis"), 60, 1)
        wait_for(
            "anvil",
            lambda: (
                httpx.post(
                    f"http://{c.hosts['anvil'].ip}:8545",
                    json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
                    timeout=2,
                ).status_code
                == 200
            ),
            60,
            0.5,
        )
        wait_for("postgres to be healthy", lambda: c.healthy("postgres"), 60, 1)
        deploy = c.start("deploy")
        wait_for("deploy to complete", lambda: deploy.popen.poll() is not None, 180, 0.5)
        assert deploy.popen.returncode == 0, deploy.log_text()[-2000:]
        for name in services:
            if name in {"anvil", "redis", "postgres", "kubo", "deploy", "worker"}:
                continue
            c.start(name)
        for n in (1, 2):
            c.start("worker", f"worker-{n}")
        yield c
    finally:
        network.close()
        pg = root / "pgdata-path"
        if pg.exists():
            shutil.rmtree(pg.read_text(), ignore_errors=True)


def test_every_service_of_compose_runs_and_is_healthy(compose: Compose) -> None:
    expected = {n for n in compose.services if n != "worker"} | {"worker-1", "worker-2"}
    assert expected == set(compose.procs)
    wait_for("the api to be healthy", lambda: compose.healthy("api"), 120, 1)
    for name, process in compose.procs.items():
        if name == "deploy":
            assert process.popen.returncode == 0
            continue
        assert process.alive(), f"{name} exited: {process.log_text()[-1500:]}"
    # the secrets of .env are on no command line
    secret_values = [
        v.lower().removeprefix("0x")
        for k, v in compose.dotenv.items()
        if v and k.endswith(("KEY", "PASSWORD"))
    ]
    assert len(secret_values) >= 8
    # nor in what compose itself shows (`docker inspect`, `docker compose config`): the
    # commands and healthchecks after interpolation
    for name, svc in compose.services.items():
        shown = json.dumps([svc.get("command"), svc.get("healthcheck")]).lower()
        assert not [s for s in secret_values if s in shown], f"{name}: a secret in its command"
    for name, process in compose.procs.items():
        for pid in descendants(process.pid):
            line = cmdline_of(pid).lower()
            leaked = [s for s in secret_values if s in line]
            assert not leaked, f"a secret of .env is on the command line of {name} (pid {pid})"


def test_a_task_goes_to_a_verified_payout_under_compose_settings(compose: Compose) -> None:
    from eth_account import Account
    from web3 import Web3

    from services.common.chain import Deployment, Marketplace
    from services.common.content import KuboContentStore
    from services.common.node import Node
    from services.common.spec import parse_spec
    from services.requester import create_task

    deployment = Deployment.load(compose.volume("deployments") / "31337.json")
    w3 = Web3(
        Web3.HTTPProvider(
            f"http://{compose.hosts['anvil'].ip}:8545", request_kwargs={"timeout": 30}
        )
    )
    requester = Account.from_key(compose.dotenv["DEPLOYER_PRIVATE_KEY"])
    node = Node(Marketplace.from_deployment(w3, deployment, requester), deployment, requester)
    evaluators = [
        Account.from_key(compose.dotenv[f"EVALUATOR_{i}_PRIVATE_KEY"]).address for i in (1, 2, 3)
    ]
    content = KuboContentStore(f"http://{compose.hosts['kubo'].ip}:5001")
    created = create_task(
        node,
        content,
        parse_spec(json.dumps(DEMO_SPEC).encode()),
        bounty=10**18,
        evaluators=evaluators,
        quorum=2,
        commit_seconds=45,
        reveal_seconds=16,
        eval_window=60,
        min_score=0,
        commit_bond=10**16,
        evaluator_fee=10**15,
    )
    content.close()
    api = f"http://{compose.hosts['api'].ip}:8000"
    started = time.monotonic()
    task = wait_for(
        f"task {created.task_id} to be finalized in the API",
        lambda: (
            (t := httpx.get(f"{api}/tasks/{created.task_id}", timeout=5).json()).get("state")
            == "finalized"
            and t
        ),
        300,
        2.0,
    )
    solver = Account.from_key(compose.dotenv["SOLVER_PRIVATE_KEY"]).address
    assert str(task.get("winner", "")).lower() == solver.lower(), task
    board = httpx.get(f"{api}/tasks/{created.task_id}/leaderboard", timeout=5).json()
    assert any(
        e["verified_score"] is not None and len(e["attestations"]) == 3 for e in board["entries"]
    ), board
    assert time.monotonic() - started > 0
    for process in compose.procs.values():
        assert process.name == "deploy" or process.alive(), f"{process.name} died"


def test_interpolation_follows_compose() -> None:
    env = {"A": "x", "EMPTY": ""}
    assert interpolate("$${A}-${A}-${B:-d}-${EMPTY:-e}-${EMPTY-f}", env) == "${A}-x-d-e-"
    with pytest.raises(ComposeError, match="set it"):
        interpolate("${MISSING:?set it}", env)
    with pytest.raises(ComposeError, match="no empty"):
        interpolate("${EMPTY:?no empty}", env)


__all__ = ["Compose", "interpolate", "os"]
