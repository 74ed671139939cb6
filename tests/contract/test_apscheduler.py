"""Contract of fastflyer/adapters/apscheduler.py with the installed APScheduler."""

from __future__ import annotations

import asyncio
import inspect
from datetime import datetime, timedelta, timezone
from importlib.metadata import version

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import BaseScheduler
from fastflyer.adapters import apscheduler as adapter


def changed(what: str) -> str:
    return f"APScheduler {version('apscheduler')} {what}: update fastflyer/adapters/apscheduler.py"


def test_the_asyncio_scheduler_keeps_its_loop_and_timer_where_the_adapter_looks():
    assert "_eventloop" in vars(AsyncIOScheduler) and AsyncIOScheduler._eventloop is None, changed(
        "no longer keeps its event loop in AsyncIOScheduler._eventloop")
    assert callable(vars(AsyncIOScheduler).get("_stop_timer")), changed(
        "removed AsyncIOScheduler._stop_timer()")
    assert list(inspect.signature(BaseScheduler.shutdown).parameters) == ["self", "wait"], changed(
        "changed BaseScheduler.shutdown(wait)")


def run_once(loop: asyncio.AbstractEventLoop, scheduler: AsyncIOScheduler) -> list:
    """Start ``scheduler`` on ``loop`` with one job due at once; the loops the job ran on."""
    ran: list = []

    async def job() -> None:
        ran.append(asyncio.get_running_loop())

    async def cycle() -> None:
        adapter.run_on_loop(scheduler, loop)
        scheduler.start()
        scheduler.add_job(job, "date", run_date=datetime.now(timezone.utc) + timedelta(
            milliseconds=20), id="contract", replace_existing=True)
        for _ in range(100):
            if ran:
                break
            await asyncio.sleep(0.01)
        assert adapter.event_loop(scheduler) is loop, changed("does not run on the loop it was given")
        adapter.shutdown_now(scheduler, wait=False)

    loop.run_until_complete(cycle())
    return ran


def test_a_scheduler_stops_at_once_and_starts_again_on_a_new_loop():
    scheduler = AsyncIOScheduler()
    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        assert run_once(first, scheduler) == [first], changed(
            "does not run jobs on the loop set in AsyncIOScheduler._eventloop")
        assert not scheduler.running, changed("is still running after BaseScheduler.shutdown")
        assert adapter.event_loop(scheduler) is None
        assert getattr(scheduler, "_timeout", None) is None, changed(
            "left its wake-up timer after _stop_timer()")
        # Again, on another loop while the first one is still open.
        assert run_once(second, scheduler) == [second], changed(
            "ignores AsyncIOScheduler._eventloop set before start()")
    finally:
        first.close()
        second.close()
