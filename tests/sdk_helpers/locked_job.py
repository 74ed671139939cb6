"""Run one locked 1-second job in this process for a while; record each run in a file.

Usage: python -m tests.sdk_helpers.locked_job RECORD NAME MODE WORK RUN_SECONDS START_AT EXPIRE
MODE is ``sync`` (background_scheduler) or ``async`` (asyncio_scheduler). Each run appends
``{"pid", "event": "start"|"end", "at"}`` lines to RECORD (O_APPEND writes are atomic).
Redis comes from the flyer_redis_* environment, as in a service.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

from fastflyer import asyncio_scheduler, background_scheduler
from fastflyer.scheduler import shutdown_schedulers, start_schedulers

record, name, mode, work, run_seconds, start_at, expire = sys.argv[1:8]
fd = os.open(record, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def note(event: str) -> None:
    line = json.dumps({"pid": os.getpid(), "event": event, "at": time.time()}) + "\n"
    os.write(fd, line.encode())


if mode == "sync":
    @background_scheduler.lock(name, expire=float(expire))
    def job() -> None:
        note("start")
        time.sleep(float(work))
        note("end")

    background_scheduler.add_job(job, "interval", seconds=1, id="job")
else:
    @asyncio_scheduler.lock(name, expire=float(expire))
    async def job() -> None:
        note("start")
        await asyncio.sleep(float(work))
        note("end")

    asyncio_scheduler.add_job(job, "interval", seconds=1, id="job")


async def main() -> None:
    await asyncio.sleep(max(0.0, float(start_at) - time.time()))
    start_schedulers()
    note("ready")
    await asyncio.sleep(float(run_seconds))
    print("--- shutting down", flush=True)
    shutdown_schedulers()
    note("stopped")


asyncio.run(main())
