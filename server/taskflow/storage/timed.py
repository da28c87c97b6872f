"""A store that times its calls into a Prometheus histogram (by operation)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from prometheus_client import Histogram

T = TypeVar("T")


class TimedStore:
    """Wraps any store: reads by method name, whole transactions as `transact`."""

    def __init__(self, store: Any, histogram: Histogram) -> None:
        self._store = store
        self._histogram = histogram

    def __getattr__(self, name: str) -> Any:
        # Called once per name: the wrapper is kept on the instance for later calls.
        attribute = getattr(self._store, name)
        if not (name.startswith("select_") or name in ("compute_stats", "ping")):
            return attribute  # not cached: a plain attribute may change on the store
        observe = self._histogram.labels(name).observe

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await attribute(*args, **kwargs)
            finally:
                observe(time.perf_counter() - started)

        setattr(self, name, timed)
        return timed

    async def transact(self, work: Callable[[Any], Awaitable[T]]) -> T:
        started = time.perf_counter()
        try:
            result: T = await self._store.transact(work)
            return result
        finally:
            self._histogram.labels("transact").observe(time.perf_counter() - started)

    async def close(self) -> None:
        await self._store.close()
