"""What a server process tree costs, read from /proc: CPU time and memory (RSS per process,
PSS for the whole tree: what a container pays, shared pages counted once)."""

from __future__ import annotations

import os
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; everything after its ')' is fixed-width.
    return text[text.rindex(")") + 2 :].split()


def tree(root: int) -> list[int]:
    """``root`` and all its live descendants (gunicorn master, workers, helper processes)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields:
                children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def leaves(root: int) -> list[int]:
    """The processes of the tree that have no children: the workers that serve requests."""
    pids = tree(root)
    parents = {int(f[1]) for f in map(_stat_fields, pids) if f}
    return [pid for pid in pids if pid not in parents]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes (all their threads), in seconds."""
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields:
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (stat fields 14, 15)
    return ticks / CLOCK_TICKS


def rss_mib(pid: int) -> float | None:
    """Resident set size of one process in MiB (VmRSS), None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def pss_mib(pids: list[int]) -> float | None:
    """Proportional set size of these processes together, in MiB (smaps_rollup): pages shared
    between them (a forked master and its workers) count once, as in the container's memory."""
    total, seen = 0, False
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1])
                seen = True
                break
    return total / 1024 if seen else None


def sockets(pids: list[int]) -> int:
    """Sockets these processes hold open (listening ones included): how many of a cell's
    client connections a server has actually accepted."""
    count = 0
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                    count += 1
            except OSError:
                continue  # closed meanwhile
    return count
