"""Logic of the items app (kept apart from the routes, as the seed's layout teaches).

Items you store (``POST /items``) live in the demo's database (``settings.DataBase``: an
embedded SQLite file shared by every worker of the container, or MySQL with ``flyer_db_*``),
so every worker answers the same. Their ids start after ``SAMPLE_IDS``: ids up to it are
sample items computed from the id, which touch no storage (the benchmark's item route).
"""

from __future__ import annotations

import json
from functools import cache

from settings import DataBase

ITEMS = "flyer_demo_items"
SAMPLE_IDS = 1_000_000  # ids 1..SAMPLE_IDS are computed; stored items get the ids after


def describe_item(item_id: int) -> dict:
    """A computed item for any id: the demo needs no storage to answer the benchmark route."""
    return {"id": item_id, "name": f"item-{item_id}", "price": round(item_id * 0.5, 2), "tags": []}


def is_sample(item_id: int) -> bool:
    return item_id <= SAMPLE_IDS


@cache
def _schema():
    from sqlalchemy import Column, Double, Integer, MetaData, String, Table, Text

    schema = MetaData()
    Table(ITEMS, schema,
          Column("id", Integer, primary_key=True, autoincrement=True),
          Column("name", String(64), nullable=False),
          Column("price", Double, nullable=False),
          Column("tags", Text, nullable=False),  # a JSON list, the same text on every database
          mysql_charset="utf8mb4")
    return schema


def _table():
    return DataBase.table(ITEMS, _schema())


def _public(row) -> dict:
    return {"id": SAMPLE_IDS + row["id"], "name": row["name"], "price": row["price"],
            "tags": json.loads(row["tags"])}


def get_stored_item(item_id: int) -> dict | None:
    """A stored item (blocking: call it from a ``def`` route or a thread)."""
    row = _table().find_one(id=item_id - SAMPLE_IDS)
    return _public(row) if row else None


def add_item(data: dict) -> dict:
    row = {"name": data["name"], "price": data["price"],
           "tags": json.dumps(data.get("tags", []), ensure_ascii=False)}
    row_id = _table().insert(row)
    return _public({**row, "id": row_id})


def list_items(offset: int, limit: int) -> tuple[list[dict], int]:
    items = _table()
    rows = items.find(order_by="id", _limit=limit, _offset=offset)
    return [_public(row) for row in rows], items.count()


def export_rows(count: int) -> list[dict]:
    """``count`` rows of about 100 bytes each: a large JSON body for benchmarks."""
    return [
        {"id": i, "name": f"item-{i:06d}", "price": i * 0.25, "tags": ["demo", "bulk"]}
        for i in range(count)
    ]
