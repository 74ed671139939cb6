"""What every process model shares: the worker count, the bind address, the start-up banner."""

from __future__ import annotations

from pathlib import Path

from fastflyer.observability.logs import logger
from fastflyer.server.cpu import CGROUP_ROOT, available_cpus
from fastflyer.server.memory_limit import MIB, memory_limit
from fastflyer.settings import FlyerSettings


def resolve_workers(settings: FlyerSettings, root: Path = CGROUP_ROOT,
                    proc_cgroup: Path = Path("/proc/self/cgroup")) -> tuple[int, str]:
    """The worker count and why: explicit, or the smaller of the CPUs this container may use
    and the workers its memory limit holds at ``flyer_worker_memory`` each."""
    if settings.workers != "auto":
        return int(settings.workers), "flyer_workers"
    cpus = available_cpus(root)
    memory = memory_limit(root, proc_cgroup)
    if memory is not None:
        fits = max(1, memory.bytes // (settings.worker_memory * MIB))
        if fits < cpus.cpus:
            return fits, f"{memory.source} / flyer_worker_memory ({settings.worker_memory} MiB)"
    return cpus.cpus, cpus.source


def display_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def bind_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def announce(settings: FlyerSettings, workers: int, reason: str, model: str) -> None:
    """Print the resolved server settings once, before starting (the docs line is the
    loader's: only the loaded app knows where its docs are, if it has any)."""
    keepalive = f"{settings.keepalive}s"
    if settings.server == "granian" and settings.keepalive:
        keepalive = f"{settings.header_timeout:g}s (granian: the header timeout)"
    logger.info(
        f"FastFlyer starting {workers} worker(s) (decided by {reason}) in {model}, "
        f"engine={settings.server}, http={settings.http}, threads={settings.threads}, "
        f"worker_connections={settings.worker_connections}, timeout={settings.timeout}s, "
        f"graceful_timeout={settings.graceful_timeout_seconds}s, keepalive={keepalive}, "
        f"max_requests={settings.max_requests if settings.enable_max_requests else 0}, "
        f"worker_max_rss={settings.worker_max_rss}MiB, worker_max_age={settings.worker_max_age}s, "
        f"startup_timeout={settings.startup_timeout}s, "
        f"drain_delay={settings.drain_delay_seconds:g}s, "
        f"access_log={'on' if settings.access_log else 'off'}"
    )
    from fastflyer.server.explain import explain, one_line

    logger.info(one_line(explain(settings, workers=(workers, reason))))


def announce_serving(settings: FlyerSettings) -> None:
    """Said once the app's start-up has succeeded, never before (an aborted start never
    claims to serve)."""
    scheme = "https" if settings.ssl_certfile is not None else "http"
    logger.info(f"FastFlyer serving on {scheme}://{bind_address(settings.host, settings.port)}")
