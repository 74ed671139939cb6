"""The seed's ``background_scheduler`` / ``asyncio_scheduler`` (APScheduler 3), started and shut
down with the app in each worker, and ``.lock()``: a job fire runs in one process only.

Jobs may be added at import time, also in a gunicorn master before fork: APScheduler keeps
them pending and nothing (no thread, no timer) runs until :func:`start_schedulers` is called by
the app's lifespan inside each worker's event loop. Jobs added later are scheduled at once.
:func:`shutdown_schedulers` keeps the jobs registered, so an app started again in the same
process (tests, an embedded server) runs them again.

Lock rule (``@scheduler.lock()``). Every call of the decorated function first takes a lock
named after the function (``name=`` to choose):

* with ``flyer_redis_host`` set: a redis-py ``Lock`` (random token, so only the holder can
  extend or release it) leased for ``expire`` seconds (``flyer_scheduler_lock_lease``, 5 by
  default) and renewed every ``expire / 3`` seconds while the function runs, from a thread (so
  a busy event loop cannot starve it); a holder killed mid-run loses it after at most
  ``expire`` seconds, and another process runs the job from its next fire;
* without Redis: an exclusive ``flock`` on ``<tmpdir>/fastflyer-locks-<uid>/<name>.lock``,
  which the kernel frees when the holder exits; it covers the workers of one host (one
  container), not replicas;
* Redis configured but unreachable: the fire is skipped with a warning; the service stays up.

A process that finds the lock taken skips that fire. Under the lock it then claims the fire's
tick, ``floor(now / tick_seconds)``, and skips if that tick (or a later one) already ran; the
last tick is stored next to the lock (a Redis key, or the lock file's content). For jobs added
through these schedulers ``tick_seconds`` is the interval of an ``interval`` job, whose start
is aligned on the Unix-epoch grid (unless ``start_date``/``jitter`` is given), or 1 s for other
periodic triggers (cron fires on whole seconds). Each process takes the tick from the same
clock that made it fire, so clock skew between hosts does not matter; a fire keeps its tick
while it starts less than ``tick_seconds`` late (APScheduler drops fires later than
``misfire_grace_time``, 1 s by default). So each tick runs once in total across the processes
sharing the Redis (or the host), never concurrently; a tick that fires while the previous run
still holds the lock is skipped. A locked function called directly has no tick: it just runs
under mutual exclusion.
"""

from __future__ import annotations

import asyncio
import fcntl
import functools
import hashlib
import inspect
import math
import os
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import redis
import redis.asyncio
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from redis.exceptions import LockError, RedisError

from fastflyer.adapters import apscheduler as apscheduler_adapter
from fastflyer.adapters import redis as redis_adapter
from fastflyer.cache import get_async_redis_pool, get_redis_pool, settings_redis_args
from fastflyer.observability.logs import logger

KEY_PREFIX = "fastflyer:lock:"
LOCK_ATTR = "__fastflyer_lock__"


def lock_dir() -> Path:
    """Per-host (per-container) directory of the no-Redis file locks."""
    return Path(tempfile.gettempdir()) / f"fastflyer-locks-{os.getuid()}"


class _FileHold:
    """An exclusive flock held through an open descriptor; closing it (or dying) frees it.
    The file's content is the last tick run under it."""

    def __init__(self, fd: int):
        self.fd = fd

    @classmethod
    def try_take(cls, name: str) -> _FileHold | None:
        directory = lock_dir()
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        digest = hashlib.sha256(name.encode()).hexdigest()[:16]
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:80]
        fd = os.open(directory / f"{safe}-{digest}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return cls(fd)

    def claim(self, tick: int | None) -> bool:
        if tick is None:
            return True
        last = os.pread(self.fd, 32, 0).strip()
        if last and int(last) >= tick:
            return False
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, str(tick).encode(), 0)
        return True

    def release(self) -> None:
        os.close(self.fd)


class _Clients:
    """Redis clients of this process: one sync client per URL, one async client per loop."""

    def __init__(self) -> None:
        self._pid = os.getpid()
        self._sync: dict[str, redis.Redis] = {}
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Any]] = (
            weakref.WeakKeyDictionary()
        )
        self._guard = threading.Lock()

    def _fresh(self) -> None:
        if self._pid != os.getpid():  # forked: never share sockets with the parent
            self.__init__()

    def sync(self, url: str | None) -> redis.Redis | None:
        args = _redis_args(url)
        if args is None:
            return None
        with self._guard:
            self._fresh()
            key = url or "settings"
            if key not in self._sync:
                self._sync[key] = get_redis_pool(**args)
            return self._sync[key]

    def async_(self, url: str | None) -> redis.asyncio.Redis | None:
        args = _redis_args(url)
        if args is None:
            return None
        with self._guard:
            self._fresh()
            per_loop = self._async.setdefault(asyncio.get_running_loop(), {})
            key = url or "settings"
            if key not in per_loop:
                per_loop[key] = get_async_redis_pool(**args)
            return per_loop[key]


def _redis_args(url: str | None) -> dict[str, Any] | None:
    return {"host": url} if url else settings_redis_args()


_clients = _Clients()


class _Skipped:
    """What a locked function returns when it did not run (lock held, tick taken, backend
    down): falsy, and told apart from a run that returned None (metrics count it)."""

    __slots__ = ()

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "SKIPPED"


SKIPPED = _Skipped()


class JobLock:
    """What ``scheduler.lock()`` attaches to a function: its lock name, expiry and tick size."""

    def __init__(self, name: str, expire: float | None, redis_url: str | None):
        if expire is None:
            from fastflyer.settings import get_settings

            expire = get_settings().scheduler_lock_lease
        if expire <= 0:
            raise ValueError("expire must be positive")
        self.name = name
        self.key = KEY_PREFIX + name
        self.tick_key = self.key + ":tick"
        self.expire = float(expire)
        self.redis_url = redis_url
        self.tick_seconds: float | None = None

    def observe_job(self, tick_seconds: float | None) -> None:
        """A scheduled job now calls the function; its fires are ``tick_seconds`` apart or more."""
        if tick_seconds and (self.tick_seconds is None or tick_seconds < self.tick_seconds):
            self.tick_seconds = tick_seconds

    def current_tick(self) -> int | None:
        if not self.tick_seconds:
            return None
        return math.floor(time.time() / self.tick_seconds)

    def _skip(self, why: str, exc: BaseException | None = None) -> _Skipped:
        if exc is None:
            logger.debug(f"job lock {self.name!r}: {why}; skipping this run")
        else:
            logger.warning(f"job lock {self.name!r}: {why} ({type(exc).__name__}: {exc}); "
                           "skipping this run")
        return SKIPPED

    def _claim_redis(self, client: redis.Redis, tick: int | None) -> bool:
        if tick is None:
            return True
        last = client.get(self.tick_key)
        if last is not None and int(last) >= tick:
            return False
        client.set(self.tick_key, tick, ex=self._tick_ttl())
        return True

    async def _claim_redis_async(self, client: redis.asyncio.Redis, tick: int | None) -> bool:
        if tick is None:
            return True
        last = await client.get(self.tick_key)
        if last is not None and int(last) >= tick:
            return False
        await client.set(self.tick_key, tick, ex=self._tick_ttl())
        return True

    def _tick_ttl(self) -> int:
        return math.ceil(max(self.tick_seconds or 0, self.expire) * 2 + 60)

    # --- sync ---------------------------------------------------------------------------
    def run_sync(self, func: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        tick = self.current_tick()
        try:
            client = _clients.sync(self.redis_url)
            if client is None:
                return self._run_file_sync(func, args, kwargs, tick)
            lock = client.lock(self.key, timeout=self.expire, blocking=False, thread_local=False)
            if not lock.acquire():
                return self._skip("held by another process")
            try:
                claimed = self._claim_redis(client, tick)
            except RedisError:
                self._release_sync(lock)
                raise
        except (RedisError, OSError) as exc:
            return self._skip("lock backend unavailable", exc)
        if not claimed:
            self._release_sync(lock)
            return self._skip(f"tick {tick} already ran")
        stop = threading.Event()
        renewer = self._start_renewer(lock, stop)
        try:
            return func(*args, **kwargs)
        finally:
            stop.set()
            renewer.join()
            self._release_sync(lock)

    def _run_file_sync(self, func: Callable[..., Any], args: tuple, kwargs: dict,
                       tick: int | None) -> Any:
        hold = _FileHold.try_take(self.name)
        if hold is None:
            return self._skip("held by another worker")
        try:
            if not hold.claim(tick):
                return self._skip(f"tick {tick} already ran")
            return func(*args, **kwargs)
        finally:
            hold.release()

    def _start_renewer(self, lock: redis.lock.Lock, stop: threading.Event) -> threading.Thread:
        renewer = threading.Thread(target=self._renew_sync, args=(lock, stop), daemon=True,
                                   name=f"lock-renew-{self.name}")
        renewer.start()
        return renewer

    def _renew_sync(self, lock: redis.lock.Lock, stop: threading.Event) -> None:
        while not stop.wait(self.expire / 3):
            try:
                lock.reacquire()
            except (LockError, RedisError) as exc:
                logger.warning(f"job lock {self.name!r} could not be renewed "
                               f"({type(exc).__name__}); another process may run the job")

    def _release_sync(self, lock: redis.lock.Lock) -> None:
        try:
            lock.release()
        except (LockError, RedisError) as exc:
            logger.warning(f"job lock {self.name!r} was lost before release ({type(exc).__name__})")

    # --- async --------------------------------------------------------------------------
    async def run_async(self, func: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        tick = self.current_tick()
        try:
            client = _clients.async_(self.redis_url)
            if client is None:
                return await self._run_file_async(func, args, kwargs, tick)
            lock = client.lock(self.key, timeout=self.expire, blocking=False, thread_local=False)
            if not await lock.acquire():
                return self._skip("held by another process")
            try:
                claimed = await self._claim_redis_async(client, tick)
            except RedisError:
                await self._release_async(lock)
                raise
        except (RedisError, OSError) as exc:
            return self._skip("lock backend unavailable", exc)
        if not claimed:
            await self._release_async(lock)
            return self._skip(f"tick {tick} already ran")
        stop = threading.Event()
        renewer = self._start_renewer(self._sync_twin(lock), stop)
        try:
            return await func(*args, **kwargs)
        finally:
            stop.set()
            await asyncio.to_thread(renewer.join)
            await self._release_async(lock)

    async def _run_file_async(self, func: Callable[..., Any], args: tuple, kwargs: dict,
                              tick: int | None) -> Any:
        hold = _FileHold.try_take(self.name)  # non-blocking: never stalls the loop
        if hold is None:
            return self._skip("held by another worker")
        try:
            if not hold.claim(tick):
                return self._skip(f"tick {tick} already ran")
            return await func(*args, **kwargs)
        finally:
            hold.release()

    def _sync_twin(self, lock: Any) -> redis.lock.Lock:
        """A sync handle on the lock an async client took (same key and token), for renewing
        it from a thread: a job that blocks its event loop must not lose the lock."""
        client = _clients.sync(self.redis_url)
        assert client is not None
        twin = client.lock(self.key, timeout=self.expire, blocking=False, thread_local=False)
        return redis_adapter.sharing_token(twin, lock)

    async def _release_async(self, lock: Any) -> None:
        try:
            await lock.release()
        except (LockError, RedisError) as exc:
            logger.warning(f"job lock {self.name!r} was lost before release ({type(exc).__name__})")


def job_lock(
    name: str | None = None,
    *,
    expire: float | None = None,
    redis_url: str | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a sync or async function so that one process at a time runs it (module rule).

    ``redis_url`` overrides ``flyer_redis_*`` (mainly for tests and special cases).
    """

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        spec = JobLock(name or f"{func.__module__}.{func.__qualname__}", expire, redis_url)
        if inspect.iscoroutinefunction(func):
            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                return await spec.run_async(func, args, kwargs)

            wrapper: Callable[..., Any] = async_wrapper
        else:
            @functools.wraps(func)
            def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
                return spec.run_sync(func, args, kwargs)

            wrapper = sync_wrapper
        setattr(wrapper, LOCK_ATTR, spec)
        return wrapper

    return decorate


def _trigger_period(trigger: Any) -> float | None:
    """Seconds between the trigger's next two fires (None for one-shot triggers)."""
    now = datetime.now(timezone.utc)
    first = trigger.get_next_fire_time(None, now)
    if first is None:
        return None
    second = trigger.get_next_fire_time(first, first + timedelta(microseconds=1))
    return (second - first).total_seconds() if second else None


_INTERVAL_UNITS = ("weeks", "days", "hours", "minutes", "seconds")


class _FlyerScheduler(BaseScheduler):
    """The seed's extras on top of an APScheduler 3 scheduler."""

    def lock(self, name: str | None = None, *, expire: float | None = None,
             redis_url: str | None = None):
        """``@scheduler.lock()``: see the module's lock rule."""
        return job_lock(name, expire=expire, redis_url=redis_url)

    def add_job(self, func: Any, trigger: Any = None, *args: Any, **kwargs: Any) -> Any:
        """APScheduler's ``add_job``; a given ``id`` replaces a job of the same id (a module
        imported twice must not crash start-up), and locked jobs get the lock rule's timing."""
        if kwargs.get("id") is not None:
            kwargs.setdefault("replace_existing", True)
        spec: JobLock | None = getattr(func, LOCK_ATTR, None)
        aligned: float | None = None
        if spec is not None and trigger == "interval" and not (
            {"start_date", "jitter"} & kwargs.keys()
        ):
            interval = timedelta(**{u: kwargs[u] for u in _INTERVAL_UNITS if u in kwargs})
            aligned = interval.total_seconds()
            if aligned > 0:
                kwargs["start_date"] = datetime.fromtimestamp(
                    math.ceil(time.time() / aligned) * aligned, timezone.utc
                )
        job = super().add_job(func, trigger, *args, **kwargs)
        if spec is not None:
            period = _trigger_period(job.trigger)
            # Fires of an aligned interval job sit on multiples of the interval; other periodic
            # triggers (cron) fire on whole seconds.
            spec.observe_job(aligned if aligned else (min(period, 1.0) if period else None))
        return job


    def keep_pending(self, jobs: list[Any]) -> None:
        """Add ``jobs`` back while stopped, so the next start runs them again (APScheduler 3's
        memory store forgets its jobs on shutdown)."""
        for job in jobs:
            BaseScheduler.add_job(
                self, job.func, job.trigger, args=job.args, kwargs=job.kwargs, id=job.id,
                name=job.name, misfire_grace_time=job.misfire_grace_time,
                coalesce=job.coalesce, max_instances=job.max_instances,
                executor=job.executor, replace_existing=True,
                **({} if job.next_run_time else {"next_run_time": None}),  # paused stays paused
            )


class FlyerBackgroundScheduler(_FlyerScheduler, BackgroundScheduler):
    """Runs jobs in a thread pool of the worker; for ``def`` jobs."""

    _started_before = False

    def start(self, *args: Any, **kwargs: Any) -> None:
        if self._started_before:  # a shut-down thread pool cannot be restarted: make a new one
            self.remove_executor("default", shutdown=False)
        super().start(*args, **kwargs)
        self._started_before = True


class FlyerAsyncIOScheduler(_FlyerScheduler, AsyncIOScheduler):
    """Runs ``async def`` jobs on the worker's event loop (``def`` jobs in its executor)."""

    def start(self, paused: bool = False) -> None:
        # Always the loop of the caller: a loop left over from an earlier start is stale.
        apscheduler_adapter.run_on_loop(self, asyncio.get_running_loop())
        super().start(paused)

    def shutdown(self, wait: bool = True) -> None:
        try:
            on_loop = asyncio.get_running_loop() is apscheduler_adapter.event_loop(self)
        except RuntimeError:
            on_loop = False
        if on_loop:  # run now instead of queueing it on a loop that is about to stop
            apscheduler_adapter.shutdown_now(self, wait)
        else:
            super().shutdown(wait)


def _count_job_event(event: JobExecutionEvent) -> None:
    from fastflyer.observability.metrics import record_job_run

    if event.exception is not None:
        outcome = "failure"
    elif event.retval is SKIPPED:
        outcome = "lock_skipped"
    else:
        outcome = "success"
    record_job_run(event.job_id, outcome)


background_scheduler = FlyerBackgroundScheduler()
asyncio_scheduler = FlyerAsyncIOScheduler()
for _scheduler in (background_scheduler, asyncio_scheduler):
    _scheduler.add_listener(_count_job_event, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)


def start_schedulers() -> None:
    """Start both schedulers in this process; call from inside its running event loop."""
    asyncio.get_running_loop()  # fail early and clearly when called outside a loop
    for scheduler in (background_scheduler, asyncio_scheduler):
        if not scheduler.running:
            scheduler.start()
    jobs = len(background_scheduler.get_jobs()) + len(asyncio_scheduler.get_jobs())
    logger.info(f"schedulers started in pid {os.getpid()} with {jobs} job(s)")


def shutdown_schedulers() -> None:
    """Stop both schedulers without waiting for running jobs (the server's graceful timeout
    bounds the shutdown, not the longest job); their jobs stay registered for a next start."""
    for scheduler in (background_scheduler, asyncio_scheduler):
        if scheduler.running:
            jobs = scheduler.get_jobs()
            scheduler.shutdown(wait=False)
            if not scheduler.running:  # (an asyncio one called off its loop stops later)
                scheduler.keep_pending(jobs)


__all__ = [
    "background_scheduler",
    "asyncio_scheduler",
    "start_schedulers",
    "shutdown_schedulers",
    "job_lock",
    "SKIPPED",
    "lock_dir",
    "FlyerBackgroundScheduler",
    "FlyerAsyncIOScheduler",
]
