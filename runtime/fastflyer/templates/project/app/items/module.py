"""Business logic of the items app, kept out of the router to be easy to test and reuse.

The store lives in memory to keep the example self-contained: each worker process has
its own copy and it starts afresh after a restart. Replace it with a database table
(see settings.py) without touching the router.
"""

import itertools
import threading

from .schema import Item, ItemIn

# `def` endpoints run in a thread pool (flyer_threads), so the store needs a lock.
_lock = threading.Lock()
_ids = itertools.count(1)
_items: dict[int, Item] = {}


def create_item(data: ItemIn) -> Item:
    with _lock:
        item = Item(id=next(_ids), **data.model_dump())
        _items[item.id] = item
    return item


def get_item(item_id: int) -> Item | None:
    return _items.get(item_id)


def list_items(offset: int, limit: int) -> tuple[list[Item], int]:
    """One page of items, oldest first, and the total count."""
    with _lock:
        items = sorted(_items.values(), key=lambda item: item.id)
    return items[offset : offset + limit], len(items)


def delete_item(item_id: int) -> bool:
    with _lock:
        return _items.pop(item_id, None) is not None


# Two items to look at right after the first start.
create_item(ItemIn(name="keyboard", price=49.9, description="mechanical, 87 keys"))
create_item(ItemIn(name="mouse", price=19.5))
