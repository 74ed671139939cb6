"""APScheduler 3 names used by FastFlyer's schedulers (``scheduler.py``) beyond its documented
API.

Checked against APScheduler 3.11.0 to 3.11.3. ``tests/contract/test_apscheduler.py`` fails,
naming the piece, when a release changes one of them.

- ``AsyncIOScheduler._eventloop``: the loop the scheduler runs on. ``start()`` keeps an earlier
  loop (3.11: while it is not closed), so a scheduler started again in a new loop (an app
  started twice in one process) must be pointed at that loop first. The public way,
  ``configure(event_loop=...)``, also resets the scheduler's executors, job stores and options.
- ``AsyncIOScheduler.shutdown()`` queues its work on that loop (3.11: as ``_shutdown``);
  that work is ``BaseScheduler.shutdown``, then ``_stop_timer()`` and forgetting the loop.
"""

from __future__ import annotations

import asyncio

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import BaseScheduler

CHECKED_VERSIONS = ("3.11.0", "3.11.3")

__all__ = ["CHECKED_VERSIONS", "event_loop", "run_on_loop", "shutdown_now"]


def event_loop(scheduler: AsyncIOScheduler) -> asyncio.AbstractEventLoop | None:
    """The loop ``scheduler`` runs on (or last ran on), if any."""
    return scheduler._eventloop


def run_on_loop(scheduler: AsyncIOScheduler, loop: asyncio.AbstractEventLoop) -> None:
    """Make the next ``start()`` of the stopped ``scheduler`` run it on ``loop``."""
    scheduler._eventloop = loop


def shutdown_now(scheduler: AsyncIOScheduler, wait: bool) -> None:
    """Do at once what ``shutdown()`` would queue on the scheduler's loop (call it on that
    loop: once the loop stops, queued work never runs)."""
    BaseScheduler.shutdown(scheduler, wait)
    scheduler._stop_timer()
    scheduler._eventloop = None
