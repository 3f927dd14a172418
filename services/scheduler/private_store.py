"""The solver's private agent store (Redis): agents travel between islands by digest here,
never through a public content store before their reveal."""

from __future__ import annotations

import hashlib

import redis


class PrivateAgentError(LookupError):
    """A digest is not in the private store, or its bytes don't hash to it."""


class PrivateAgents:
    """Agent bytes keyed by their sha256 (hex), expiring after `ttl` seconds."""

    def __init__(self, client: redis.Redis, prefix: str, ttl: int) -> None:
        self._r = client
        self._prefix = prefix
        self._ttl = ttl

    def _key(self, digest_hex: str) -> str:
        return f"{self._prefix}:agent:{digest_hex}"

    def put_many(self, agents: list[bytes]) -> list[str]:
        pipe = self._r.pipeline(transaction=False)
        digests = []
        for agent in agents:
            digest = hashlib.sha256(agent).hexdigest()
            pipe.set(self._key(digest), agent, ex=self._ttl)
            digests.append(digest)
        pipe.execute()
        return digests

    def get(self, digest_hex: str) -> bytes:
        return self.get_many([digest_hex])[0]

    def get_many(self, digests: list[str]) -> list[bytes]:
        """The agents of `digests`, in order, in one round trip (an island's whole population
        on a far link: one MGET, not a GET per agent)."""
        if not digests:
            return []
        found = self._r.mget([self._key(d) for d in digests])
        agents = []
        for digest_hex, raw in zip(digests, found, strict=True):
            if raw is None:
                raise PrivateAgentError(f"agent {digest_hex[:16]}… is not in the private store")
            data = bytes(raw)  # type: ignore[arg-type]  # MGET of binary values: bytes
            if hashlib.sha256(data).hexdigest() != digest_hex:
                raise PrivateAgentError(f"agent {digest_hex[:16]}… does not hash to its key")
            agents.append(data)
        return agents
