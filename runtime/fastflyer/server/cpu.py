"""How many CPUs this process may really use: the smallest of cgroup quota and affinity.

``os.cpu_count()`` reports the host's CPUs, which in a container with ``--cpus 1`` would
start one worker per host core and have them fight over one core's worth of quota.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class CpuLimit:
    cpus: int
    source: str  # which limit decided, e.g. "cgroup v2 cpu.max (150000/100000)"


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cgroup_v2_limit(root: Path = CGROUP_ROOT) -> tuple[float, str] | None:
    """CPUs allowed by cgroup v2 ``cpu.max`` ("max 100000" means unlimited)."""
    text = _read(root / "cpu.max")
    if not text:
        return None
    parts = text.split()
    if len(parts) != 2 or parts[0] == "max":
        return None
    try:
        quota, period = int(parts[0]), int(parts[1])
    except ValueError:
        return None
    if quota <= 0 or period <= 0:
        return None
    return quota / period, f"cgroup v2 cpu.max ({quota}/{period})"


def cgroup_v1_limit(root: Path = CGROUP_ROOT) -> tuple[float, str] | None:
    """CPUs allowed by cgroup v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (-1 = unlimited)."""
    for directory in (root / "cpu", root / "cpu,cpuacct", root / "cpuacct,cpu"):
        quota_text = _read(directory / "cpu.cfs_quota_us")
        period_text = _read(directory / "cpu.cfs_period_us")
        if quota_text is None or period_text is None:
            continue
        try:
            quota, period = int(quota_text), int(period_text)
        except ValueError:
            return None
        if quota <= 0 or period <= 0:
            return None
        return quota / period, f"cgroup v1 cpu.cfs_quota_us ({quota}/{period})"
    return None


def affinity_limit() -> tuple[float, str]:
    """CPUs this process may be scheduled on (taskset, cpuset)."""
    try:
        count = len(os.sched_getaffinity(0))
        return float(count), f"CPU affinity ({count} CPUs)"
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        count = os.cpu_count() or 1
        return float(count), f"os.cpu_count() ({count} CPUs)"


def available_cpus(root: Path = CGROUP_ROOT) -> CpuLimit:
    """The smallest of the CPU limits that apply, rounded up, at least 1."""
    candidates = [affinity_limit()]
    for limit in (cgroup_v2_limit(root), cgroup_v1_limit(root)):
        if limit is not None:
            candidates.append(limit)
    cpus, source = min(candidates, key=lambda item: item[0])
    return CpuLimit(cpus=max(1, math.ceil(cpus)), source=source)
