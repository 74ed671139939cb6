"""Import the seed's job modules (as sub-app imports would), then run like a worker for a while.

Usage: python -m tests.sdk_helpers.seed_jobs.run SECONDS
"""

import asyncio
import sys
import threading

from fastflyer.scheduler import shutdown_schedulers, start_schedulers

import tests.sdk_helpers.seed_jobs.async_job  # noqa: F401
import tests.sdk_helpers.seed_jobs.sync_job  # noqa: F401

# Importing and adding jobs starts nothing: safe in a gunicorn master before fork.
assert not any(t.name == "APScheduler" for t in threading.enumerate())


async def main() -> None:
    start_schedulers()
    await asyncio.sleep(float(sys.argv[1]))
    shutdown_schedulers()


asyncio.run(main())
print("clean exit", flush=True)
