"""What /proc says about the server's processes: their children, memory, CPU time and open
files. Read when asked (a scrape, a periodic check), never per request."""

from __future__ import annotations

import os

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def stat_fields(pid: int | str) -> list[str] | None:
    """``/proc/<pid>/stat`` from field 3 on (state, ppid, ...), or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            text = stat.read().decode(errors="replace")
    except OSError:
        return None
    return text[text.rfind(")") + 2:].split()  # after "pid (comm) ": comm may hold spaces


def children(parent: int) -> set[int]:
    """The live processes whose parent is ``parent``."""
    try:  # the kernel's own list (CONFIG_PROC_CHILDREN), else a scan of /proc
        with open(f"/proc/{parent}/task/{parent}/children") as listing:
            return {int(pid) for pid in listing.read().split()}
    except (OSError, ValueError):
        pass
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = stat_fields(entry)
            if fields is not None and fields[1] == str(parent):
                found.add(int(entry))
    return found


def resident_bytes(pid: int | str = "self") -> int | None:
    """Resident memory of a process (None where that is unreadable)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return None


def usage(pid: int) -> tuple[float, float, float | None] | None:
    """(resident bytes, CPU seconds, open file descriptors) of a process; None when gone."""
    fields = stat_fields(pid)
    if fields is None:
        return None
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime
    rss = int(fields[21]) * PAGE_SIZE
    try:
        fds: float | None = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        fds = None
    return float(rss), cpu, fds
