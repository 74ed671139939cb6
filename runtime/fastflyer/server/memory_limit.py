"""How much memory this container may use: the cgroup limit (v2 ``memory.max``, v1
``memory.limit_in_bytes``), read for the process's own cgroup.

A worker count from CPUs alone can start more workers than the memory limit holds: the
kernel then kills one (OOM) under load, which looks like a crash of the service.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastflyer.server.cpu import CGROUP_ROOT

UNLIMITED_V1 = 1 << 60  # cgroup v1 reports "no limit" as a huge page-rounded number
MIB = 1024 * 1024


@dataclass(frozen=True)
class MemoryLimit:
    bytes: int
    source: str  # e.g. "cgroup v2 memory.max (512 MiB)"


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def own_cgroups(proc_cgroup: Path = Path("/proc/self/cgroup")) -> dict[str, str]:
    """This process's cgroup path per controller ("" for the v2 unified hierarchy)."""
    paths: dict[str, str] = {}
    for line in (_read(proc_cgroup) or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            for controller in parts[1].split(","):
                paths[controller] = parts[2]
    return paths


def _candidates(base: Path, own: str | None) -> list[Path]:
    # In a container (cgroup namespace) the own path is "/" and the mount is the cgroup
    # itself; on a host the own cgroup is a directory below the mount.
    dirs = [base / own.lstrip("/")] if own and own != "/" else []
    return [*dirs, base]


def _limit(text: str | None, ceiling: int | None = None) -> int | None:
    if not text or not text.isdigit():
        return None  # "max" (v2) or unreadable
    value = int(text)
    if value <= 0 or (ceiling is not None and value >= ceiling):
        return None
    return value


def memory_limit(root: Path = CGROUP_ROOT,
                 proc_cgroup: Path = Path("/proc/self/cgroup")) -> MemoryLimit | None:
    """The memory this process's cgroup may use, or None when unlimited or unknown."""
    own = own_cgroups(proc_cgroup)
    for directory in _candidates(root, own.get("")):
        if (value := _limit(_read(directory / "memory.max"))) is not None:
            return MemoryLimit(value, f"cgroup v2 memory.max ({value // MIB} MiB)")
    for directory in _candidates(root / "memory", own.get("memory")):
        text = _read(directory / "memory.limit_in_bytes")
        if (value := _limit(text, UNLIMITED_V1)) is not None:
            return MemoryLimit(value, f"cgroup v1 memory.limit_in_bytes ({value // MIB} MiB)")
    return None
