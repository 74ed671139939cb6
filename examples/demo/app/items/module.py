"""Logic of the items app (kept apart from the routes, as the seed's layout teaches)."""

from __future__ import annotations

import itertools
import threading

_lock = threading.Lock()
_ids = itertools.count(1001)
_items: dict[int, dict] = {}


def describe_item(item_id: int) -> dict:
    """A computed item for any id: the demo needs no storage to answer the benchmark route."""
    return {"id": item_id, "name": f"item-{item_id}", "price": round(item_id * 0.5, 2), "tags": []}


def get_item(item_id: int) -> dict:
    with _lock:
        stored = _items.get(item_id)
    return dict(stored) if stored else describe_item(item_id)


def add_item(data: dict) -> dict:
    with _lock:
        item = {"id": next(_ids), **data}
        _items[item["id"]] = item
    return dict(item)


def list_items(offset: int, limit: int) -> tuple[list[dict], int]:
    with _lock:
        items = sorted(_items.values(), key=lambda i: i["id"])
    return [dict(i) for i in items[offset : offset + limit]], len(items)


def export_rows(count: int) -> list[dict]:
    """``count`` rows of about 100 bytes each: a large JSON body for benchmarks."""
    return [
        {"id": i, "name": f"item-{i:06d}", "price": i * 0.25, "tags": ["demo", "bulk"]}
        for i in range(count)
    ]
