"""prometheus-client names used by FastFlyer's metrics (``observability/metrics.py``) beyond its
documented API.

Checked against prometheus-client 0.20.0 to 0.26.0. ``tests/contract/test_prometheus_client.py``
fails, naming the piece, when a release changes one of them.

- A histogram's labelled child keeps ``_sum`` and ``_buckets`` (one value per bucket, not
  cumulative), each with ``inc()``: ``observe()`` adds to the sum and to one bucket.
- Multiprocess mode keeps a process's values in ``<kind>_<pid>.db`` (kinds ``counter``,
  ``histogram``, ``gauge_<mode>``); ``MultiProcessCollector`` reads every ``*.db`` of the
  directory, whatever the part after the kind. The files are
  ``prometheus_client.mmap_dict.MmapedDict``: ``read_all_values_from_file(path)`` yields
  ``(key, value, timestamp, position)``, ``read_value(key)`` gives ``(value, timestamp)``,
  ``write_value(key, value, timestamp)``, ``close()``.

prometheus_client is imported only when a function here needs it: multiprocess mode is chosen
at its first import (see ``observability/metrics.py``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

CHECKED_VERSIONS = ("0.20.0", "0.26.0")

__all__ = ["CHECKED_VERSIONS", "add_observations", "add_file_values", "values_file"]


def add_observations(histogram: Any, total: float, bucket_counts: Sequence[int]) -> None:
    """What ``observe()`` of each of ``sum(bucket_counts)`` values adding up to ``total`` does,
    ``bucket_counts[i]`` of them falling in bucket ``i`` (the first bound they do not exceed)."""
    histogram._sum.inc(total)
    buckets = histogram._buckets
    for index, count in enumerate(bucket_counts):
        if count:
            buckets[index].inc(count)


def values_file(directory: str, kind: str, owner: int | str) -> str:
    """The file in which multiprocess mode keeps ``owner``'s values of metrics of ``kind``."""
    return os.path.join(directory, f"{kind}_{owner}.db")


def add_file_values(source: str, target: str) -> None:
    """Add each value of the values file ``source`` to the same key's value in the values file
    ``target`` (made when missing): right for counters and histograms, which are summed."""
    from prometheus_client.mmap_dict import MmapedDict

    archive = MmapedDict(target)
    try:
        for key, value, timestamp, _ in MmapedDict.read_all_values_from_file(source):
            total, _ = archive.read_value(key)
            archive.write_value(key, total + value, timestamp)
    finally:
        archive.close()
