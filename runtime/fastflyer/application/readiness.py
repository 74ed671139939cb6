"""Readiness: is this worker fit to receive new traffic?

It is not while the process drains after SIGTERM, nor while a configured dependency (Redis,
the database) does not answer. Liveness (``/health_check``) never looks at dependencies: a
restart would not bring Redis back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

Probe = Callable[[], Awaitable[None]]  # raises when the dependency is unavailable


@dataclass
class ReadinessResult:
    ready: bool
    message: str


class Readiness:
    """Draining flag plus named dependency probes, with a short cache so that probes from a
    load balancer cannot turn into a flood of dependency calls."""

    def __init__(self, cache_seconds: float = 1.0, probe_timeout: float = 2.0):
        self.draining = False
        self._probes: dict[str, Probe] = {}
        self._cache_seconds = cache_seconds
        self._probe_timeout = probe_timeout
        self._cached: ReadinessResult | None = None
        self._cached_at = 0.0

    def add_probe(self, name: str, probe: Probe) -> None:
        self._probes[name] = probe

    def start_draining(self) -> None:
        self.draining = True

    async def check(self) -> ReadinessResult:
        if self.draining:
            return ReadinessResult(False, "draining")
        if not self._probes:
            return ReadinessResult(True, "ready")
        now = time.monotonic()
        if self._cached is not None and now - self._cached_at < self._cache_seconds:
            return self._cached
        failed = []
        for name, probe in self._probes.items():
            try:
                await asyncio.wait_for(probe(), self._probe_timeout)
            except Exception:  # noqa: BLE001 - any failure means "not ready"; details go nowhere
                failed.append(name)
        result = (
            ReadinessResult(False, f"unavailable: {', '.join(failed)}")
            if failed
            else ReadinessResult(True, "ready")
        )
        self._cached, self._cached_at = result, time.monotonic()
        return result


# One per process: the server's signal handling marks it draining; the health layer reads it.
readiness = Readiness()
