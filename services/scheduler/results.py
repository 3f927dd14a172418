"""The result backend of the solver's Celery app: Celery's Redis backend, storing a task's
state in one round trip instead of two.

Celery reads a task's stored state before writing a new one (a SUCCESS is never overwritten,
so a late duplicate cannot clobber a result): a GET, then SETEX and PUBLISH, each waiting for
its reply. A worker on a far link pays both round trips for every epoch's result (100 ms each
at 50 ms each way). Here the same check and write run as one Lua script on the server: the
same rule, one round trip."""

from __future__ import annotations

from typing import Any

from celery import states
from celery.backends.base import BackendStoreError
from celery.backends.redis import RedisBackend

# KEYS[1] the task's meta key; ARGV[1] the encoded meta, ARGV[2] its lifetime (s, 0: none).
# A stored SUCCESS stays (Celery's own rule); anything else is replaced and published.
_STORE_UNLESS_DONE = """
local current = redis.call('GET', KEYS[1])
if current then
  local ok, meta = pcall(cjson.decode, current)
  if ok and type(meta) == 'table' and meta['status'] == 'SUCCESS' then
    return 0
  end
end
local ttl = tonumber(ARGV[2])
if ttl and ttl > 0 then
  redis.call('SETEX', KEYS[1], ttl, ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
redis.call('PUBLISH', KEYS[1], ARGV[1])
return 1
"""


class OneTripRedisBackend(RedisBackend):  # type: ignore[misc]  # Celery ships no types
    """RedisBackend whose state writes cost one round trip (results are JSON: cjson reads them)."""

    _script: Any = None  # Any: redis-py's Script, registered on first use

    def _store_result(
        self,
        task_id: str | bytes,
        result: Any,  # Any: whatever the task returned, or its exception
        state: str,
        traceback: str | None = None,
        request: Any = None,  # Any: Celery's task request
        **kwargs: Any,  # Any: Celery's own keywords, unused here as in its backend
    ) -> Any:  # Any: the result, as Celery's backend returns it
        meta = self._get_result_meta(
            result=result, state=state, traceback=traceback, request=request
        )
        meta["task_id"] = task_id.decode() if isinstance(task_id, bytes) else task_id
        value = self.encode(meta)
        if isinstance(value, str) and len(value) > self._MAX_STR_VALUE_SIZE:
            raise BackendStoreError(
                "value too large for Redis backend", state=state, task_id=task_id
            )
        expires = self.failure_expires if state == states.FAILURE else self.expires
        key = self.get_key_for_task(task_id)
        self.ensure(self._store_unless_done, (key, value, expires))
        return result

    def _store_unless_done(self, key: bytes | str, value: str | bytes, expires: Any) -> None:
        ttl = int(expires.total_seconds() if hasattr(expires, "total_seconds") else expires or 0)
        if self._script is None:
            self._script = self.client.register_script(_STORE_UNLESS_DONE)
        self._script(keys=[key], args=[value, ttl])
