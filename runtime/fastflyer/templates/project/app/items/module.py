"""Business logic of the items app, kept out of the router to be easy to test and reuse.

Items live in a database table, through ``DataBase`` in settings.py (FastFlyer's
database helpers): MySQL when flyer_db_host is set (or the database of flyer_db_url),
otherwise an SQLite file in the temp directory. Every worker process of the service uses
the same table, so whichever worker answers, a client reads what it wrote. The same
code runs on both.
"""

from functools import cache

from settings import DataBase

from .schema import Item, ItemIn

TABLE = "items"
# Two items to look at after the first start (written once, with the table).
EXAMPLES = [
    {"name": "keyboard", "price": 49.9, "description": "mechanical, 87 keys"},
    {"name": "mouse", "price": 19.5, "description": ""},
]


@cache
def _schema():
    # Imported here, not at the top: the app is imported before the workers start,
    # and only the workers need SQLAlchemy.
    from sqlalchemy import Column, Double, Integer, MetaData, String, Table

    schema = MetaData()
    Table(TABLE, schema,
          Column("id", Integer, primary_key=True, autoincrement=True),
          Column("name", String(64), nullable=False),
          Column("price", Double, nullable=False),
          Column("description", String(500), nullable=False, default=""),
          mysql_charset="utf8mb4")
    return schema


def _items():
    """The dataset table of items, created (with the examples) on first use."""
    return DataBase.table(TABLE, _schema(), examples={TABLE: EXAMPLES})


def _item(row) -> Item:
    return Item(id=row["id"], name=row["name"], price=row["price"],
                description=row["description"])


def create_item(data: ItemIn) -> Item:
    row = data.model_dump()
    return Item(id=_items().insert(row), **row)


def get_item(item_id: int) -> Item | None:
    row = _items().find_one(id=item_id)
    return _item(row) if row else None


def list_items(offset: int, limit: int) -> tuple[list[Item], int]:
    """One page of items, oldest first, and the total count."""
    items = _items()
    rows = items.find(order_by="id", _limit=limit, _offset=offset)
    return [_item(row) for row in rows], items.count()


def delete_item(item_id: int) -> bool:
    return bool(_items().delete(id=item_id))
