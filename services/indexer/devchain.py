"""A local dev chain for indexer tests and the bench: anvil processes and a raw log emitter.

The emitter is a 100-byte contract (Yul below, compiled with solc 0.8.28, evmVersion paris)
installed with `anvil_setCode`. Its calldata is a sequence of records
`<1 byte topic count><3 bytes data length><topics, 32 bytes each><data>`, and it emits one log
per record. With it a test can put thousands of events, well-formed or deliberately broken,
on chain in a few transactions, all under the marketplace's event ABI.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import random
import re
import shutil
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import httpx
from eth_abi.abi import encode
from eth_hash.auto import keccak as _keccak

from services.common.process import free_port
from services.common.settings import ANVIL_CHAIN_ID

ROOT = Path(__file__).resolve().parents[2]
ARTIFACT = ROOT / "contracts" / "build" / "EdgeMarketplace.json"

EMITTER_YUL = """
object "LogEmitter" {
  code {
    let p := 0
    let end := calldatasize()
    for { } lt(p, end) { } {
      let hdr := shr(224, calldataload(p))
      let n := shr(24, hdr)
      let len := and(hdr, 0xffffff)
      let t := add(p, 4)
      let d := add(t, mul(n, 32))
      calldatacopy(0, d, len)
      switch n
      case 0 { log0(0, len) }
      case 1 { log1(0, len, calldataload(t)) }
      case 2 { log2(0, len, calldataload(t), calldataload(add(t, 32))) }
      case 3 { log3(0, len, calldataload(t), calldataload(add(t, 32)), calldataload(add(t, 64))) }
      default { log4(0, len, calldataload(t), calldataload(add(t, 32)), calldataload(add(t, 64)),
                     calldataload(add(t, 96))) }
      p := add(d, len)
    }
    stop()
  }
}
"""
EMITTER_CODE = (
    "0x60005b368110600a57005b806004913562ffffff8160e01c169183810190611fe08360f31c16810192"
    "8486850160003760f81c801560975780600114608c5780600214607d57600314606857606481013591"
    "602460448301359201359035856000a45b01016002565b90602460448301359201359035846000a360"
    "62565b50602401359035836000a26062565b505035826000a16062565b505050816000a0606256"
)
EMITTER_ADDRESS = "0x00000000000000000000000000000000000e3175"
SENDER = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"  # anvil's account 0, unlocked


def keccak(*, text: str) -> bytes:
    return _keccak(text.encode())


def anvil_path() -> str:
    local = ROOT / "node_modules" / ".bin" / "anvil"
    if local.exists():
        return str(local)
    found = shutil.which("anvil")
    if found is None:
        raise RuntimeError("anvil not found: run `npm install` in the repository root")
    return found


class Anvil:
    """An anvil process of our own on a free port, with a small JSON-RPC helper."""

    def __init__(self, *args: str, load_state: Path | None = None) -> None:
        self.http = httpx.Client(timeout=60)
        for _attempt in range(5):
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            cmd = [
                anvil_path(),
                "--port",
                str(self.port),
                "--host",
                "127.0.0.1",
                "--silent",
                "--chain-id",
                str(ANVIL_CHAIN_ID),
                "--gas-limit",
                "300000000",
                *args,
            ]
            if load_state is not None:
                cmd += ["--load-state", str(load_state)]
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if self._wait_ready():
                return
        raise RuntimeError("anvil did not start on any of 5 free ports")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                if "address already in use" in err.lower() or "in use" in err.lower():
                    return False  # someone took the port between probe and bind
                raise RuntimeError(f"anvil exited: {err[-500:]}")
            with contextlib.suppress(httpx.HTTPError):
                self.rpc("eth_chainId")
                time.sleep(0.05)
                # the answer must come from our process, not another node on a recycled port
                if self.proc.poll() is None:
                    return True
            time.sleep(0.05)
        self.proc.kill()
        self.proc.wait()
        return False

    def rpc(self, method: str, *params: Any) -> Any:
        resp = self.http.post(
            self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        )
        doc = resp.json()
        if "error" in doc:
            raise RuntimeError(f"{method}: {doc['error']}")
        return doc["result"]

    def block_number(self) -> int:
        return int(self.rpc("eth_blockNumber"), 16)

    def block(self, number: int | str) -> dict[str, Any]:
        tag = hex(number) if isinstance(number, int) else number
        result: dict[str, Any] = self.rpc("eth_getBlockByNumber", tag, False)
        return result

    def mine(self, blocks: int = 1) -> None:
        self.rpc("anvil_mine", hex(blocks))

    def stop(self) -> None:
        self.http.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def install_emitter(anvil: Anvil, address: str = EMITTER_ADDRESS) -> int:
    """Put the log emitter at `address`; returns the block number to index from."""
    anvil.rpc("anvil_setCode", address, EMITTER_CODE)
    anvil.mine()
    return anvil.block_number()


def emitter_calldata(logs: Iterable[tuple[Sequence[bytes], bytes]]) -> str:
    """Calldata making the emitter log each (topics, data) in order."""
    parts = []
    for topics, data in logs:
        if len(topics) > 4 or len(data) >= 1 << 24:
            raise ValueError("a log has at most 4 topics and < 16 MiB of data")
        parts.append(bytes([len(topics)]) + len(data).to_bytes(3, "big") + b"".join(topics) + data)
    return "0x" + b"".join(parts).hex()


def send_logs(
    anvil: Anvil,
    logs: Sequence[tuple[Sequence[bytes], bytes]],
    address: str = EMITTER_ADDRESS,
    *,
    wait: bool = True,
) -> str:
    """One transaction emitting `logs`; with `wait`, returns once it is mined (automine)."""
    tx: str = anvil.rpc(
        "eth_sendTransaction",
        {"from": SENDER, "to": address, "data": emitter_calldata(logs), "gas": hex(250_000_000)},
    )
    deadline = time.monotonic() + 30
    while wait and anvil.rpc("eth_getTransactionReceipt", tx) is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"transaction {tx} not mined in 30 s: is automine off?")
        time.sleep(0.005)
    return tx


def marketplace_events() -> list[dict[str, Any]]:
    """The event ABI entries of the committed contract artifact."""
    abi = json.loads(ARTIFACT.read_text())["abi"]
    return [e for e in abi if e.get("type") == "event"]


def event_signature(event: dict[str, Any]) -> str:
    return f"{event['name']}({','.join(i['type'] for i in event['inputs'])})"


def encode_log(event: dict[str, Any], values: dict[str, Any]) -> tuple[list[bytes], bytes]:
    """ABI-encode one event (values by input name) the way Solidity emits it."""
    topics = [keccak(text=event_signature(event))]
    data_types, data_values = [], []
    for inp in event["inputs"]:
        if inp["indexed"]:
            topics.append(encode([inp["type"]], [values[inp["name"]]]))
        else:
            data_types.append(inp["type"])
            data_values.append(values[inp["name"]])
    return topics, encode(data_types, data_values)


def sample_values(event: dict[str, Any], i: int) -> dict[str, Any]:
    """Plausible argument values for event `event`, varied by `i`."""
    out: dict[str, Any] = {}
    for inp in event["inputs"]:
        t, name = inp["type"], inp["name"]
        if t == "address":
            out[name] = "0x" + keccak(text=f"{name}{i % 97}")[:20].hex()
        elif t == "address[]":
            out[name] = ["0x" + keccak(text=f"ev{i}-{k}")[:20].hex() for k in range(1 + i % 5)]
        elif t == "bytes32":
            out[name] = keccak(text=f"{name}{i}")
        elif t == "bytes":
            out[name] = keccak(text=str(i)) * (1 + (i % 64))  # 32 B .. 2 KiB agents
        elif t == "bool":
            out[name] = i % 2 == 0
        elif m := re.fullmatch(r"uint(\d+)", t):
            bits = int(m.group(1))
            out[name] = (i * 2654435761 + len(name)) % (1 << min(bits, 64))
        else:
            raise ValueError(f"no sample for type {t}")
    return out


def sample_logs(count: int, start: int = 0) -> list[tuple[list[bytes], bytes]]:
    """`count` logs cycling through every marketplace event, each well-formed."""
    events = marketplace_events()
    return [
        encode_log(events[i % len(events)], sample_values(events[i % len(events)], i))
        for i in range(start, start + count)
    ]


def build_chain(anvil: Anvil, events: int, per_tx: int = 200, per_block: int = 2) -> int:
    """Fill `anvil` with `events` sample events, `per_tx` per transaction and `per_block`
    transactions per block; returns the first block to index."""
    start = install_emitter(anvil)
    anvil.rpc("evm_setAutomine", False)
    sent = 0
    try:
        while sent < events:
            for _ in range(per_block):
                n = min(per_tx, events - sent)
                if n <= 0:
                    break
                send_logs(anvil, sample_logs(n, sent), wait=False)
                sent += n
            anvil.mine()
    finally:
        anvil.rpc("evm_setAutomine", True)
    return start


def dump_state(anvil: Anvil, path: Path) -> None:
    """Save the chain (blocks, receipts, state) for `Anvil(load_state=path)`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # anvil_dumpState answers gzip'd JSON as hex; --load-state wants the JSON itself.
    state = gzip.decompress(bytes.fromhex(anvil.rpc("anvil_dumpState")[2:]))
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(state)
    tmp.replace(path)


def scenario_logs(
    tasks: int, seed: int = 0, first_task: int = 1
) -> list[tuple[list[bytes], bytes]]:
    """A coherent marketplace history in event order: for each task, creation, commits,
    reveals, the seed, attestations and verification, then finalize or cancel, withdrawals."""
    rnd = random.Random(seed)
    ev = {e["name"]: e for e in marketplace_events()}

    def addr(tag: str) -> str:
        return "0x" + keccak(text=tag)[:20].hex()

    out: list[tuple[list[bytes], bytes]] = []
    for t in range(first_task, first_task + tasks):
        creator = addr(f"creator{t % 7}")
        evaluators = [addr(f"evaluator{k}") for k in range(1 + t % 3)]
        quorum = len(evaluators) // 2 + 1
        out.append(
            encode_log(
                ev["TaskCreated"],
                {
                    "taskId": t,
                    "creator": creator,
                    "specDigest": keccak(text=f"spec{t}"),
                    "bounty": 10**18 * t,
                    "commitDeadline": 1_700_000_000 + t,
                    "revealDeadline": 1_700_000_600 + t,
                    "evalWindow": 600,
                    "evaluators": evaluators,
                    "quorum": quorum,
                    "minScore": 1000 * (t % 5),
                    "commitBond": 10**16,
                    "evaluatorFee": 10**15,
                },
            )
        )
        if t % 5 == 4:
            out.append(encode_log(ev["TaskCancelled"], {"taskId": t, "refund": 10**18 * t}))
            continue
        solutions = rnd.randint(0, 4)
        solvers = [addr(f"solver{rnd.randint(0, 9)}") for _ in range(solutions)]
        for s, solver in enumerate(solvers):
            out.append(
                encode_log(
                    ev["SolutionCommitted"],
                    {
                        "taskId": t,
                        "solutionId": s,
                        "solver": solver,
                        "commitment": keccak(text=f"c{t}/{s}"),
                    },
                )
            )
        revealed = [s for s in range(solutions) if rnd.random() < 0.8]
        for s in revealed:
            agent = keccak(text=f"agent{t}/{s}") * rnd.randint(1, 40)
            out.append(
                encode_log(
                    ev["SolutionRevealed"],
                    {
                        "taskId": t,
                        "solutionId": s,
                        "solver": solvers[s],
                        "agentDigest": hashlib.sha256(agent).digest(),
                        "claimedScore": rnd.randint(0, 1_000_000),
                        "agent": agent,
                    },
                )
            )
        out.append(encode_log(ev["SeedRequested"], {"taskId": t, "seedBlock": 100 + t}))
        out.append(
            encode_log(ev["EvaluationSeedSet"], {"taskId": t, "evalSeed": keccak(text=f"s{t}")})
        )
        best: tuple[int, int] | None = None
        for s in revealed:
            score = rnd.randint(0, 1_000_000)
            for e in evaluators[:quorum]:
                out.append(
                    encode_log(
                        ev["ScoreAttested"],
                        {"taskId": t, "solutionId": s, "evaluator": e, "score": score},
                    )
                )
            is_best = best is None or score > best[1]
            if is_best:
                best = (s, score)
            out.append(
                encode_log(
                    ev["SolutionVerified"],
                    {"taskId": t, "solutionId": s, "score": score, "best": is_best},
                )
            )
        winner = solvers[best[0]] if best else "0x" + "00" * 20
        out.append(
            encode_log(
                ev["TaskFinalized"],
                {
                    "taskId": t,
                    "winner": winner,
                    "solutionId": best[0] if best else 2**256 - 1,
                    "score": best[1] if best else 0,
                    "payout": 10**18 * t,
                },
            )
        )
        out.append(
            encode_log(
                ev["Withdrawn"], {"account": winner if best else creator, "amount": 10**18 * t}
            )
        )
    return out


def cached_chain(
    events: int, name: str, per_tx: int = 200, per_block: int = 2
) -> tuple[Anvil, int]:
    """An anvil holding `events` sample events: built once, dumped under .edgemarket/fixtures,
    and loaded from the dump (`--load-state`) afterwards. Returns (anvil, first block)."""
    state = ROOT / ".edgemarket" / "fixtures" / f"{name}-{events}-{per_tx}-{per_block}-v1.json"
    meta = state.with_suffix(".meta")
    if not (state.exists() and meta.exists()):
        node = Anvil()
        start = build_chain(node, events, per_tx=per_tx, per_block=per_block)
        dump_state(node, state)
        meta.write_text(json.dumps({"start": start}))
        node.stop()
    return Anvil(load_state=state), int(json.loads(meta.read_text())["start"])


def emitter_indexer(url: str, client: Any, stream: str, start: int, **options: Any) -> Any:
    """An Indexer of the log emitter on the dev chain (chain id 31337, the artifact's ABI)."""
    from services.common.chain import RpcClient, build_log_decoders, load_artifact
    from services.indexer.service import Indexer

    timeout = options.pop("timeout", 10.0)
    return Indexer(
        rpc=RpcClient(url, timeout=timeout),
        client=client,
        stream=stream,
        chain_id=ANVIL_CHAIN_ID,
        contract=EMITTER_ADDRESS,
        start_block=start,
        decoders=build_log_decoders(load_artifact().abi),
        **options,
    )
