"""Project settings: FastFlyer reads ``CustomConfig`` for the API docs' title and info.

Service settings (port, workers, log level …) are ``flyer_*`` environment variables; see
``fastflyer config``. Shared clients live here too, as the seed teaches: ``DataBase`` is the
demo's database, used by both apps (``from settings import DataBase``).
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path


class CustomConfig:
    TITLE = "FastFlyer Demo"
    DESCRIPTION = "The demo service of the FastFlyer base image: items and users."
    VERSION = "1.0.0"
    CONTACT = {"name": "FastFlyer", "url": "https://github.com/jagerzhang/fastflyer"}
    OPENAPI_TAGS = [
        {"name": "Items", "description": "Demo app 1: one router file."},
        {"name": "Users", "description": "Demo app 2: several router files aggregated."},
    ]


def _connect():
    """The database the settings name: ``flyer_db_url``; MySQL from ``flyer_db_*`` when
    ``flyer_db_host`` is set; otherwise an embedded SQLite file in the temp directory, one
    file shared by every worker of the container. The same dataset code runs on each."""
    from fastflyer.database import get_dataset_pool
    from fastflyer.settings import get_settings

    settings = get_settings()
    if settings.db_url is not None:
        return get_dataset_pool(url=settings.db_url.get_secret_value())
    if settings.db_host:
        return get_dataset_pool(
            host=settings.db_host,
            port=settings.db_port,
            name=settings.db_name,
            user=settings.db_user,
            password=settings.db_pass.get_secret_value(),
            recycle=settings.db_recycle_rate,
            pool_size=settings.db_pool_size,
            charset=settings.db_chartset,
        )
    return get_dataset_pool(url=f"sqlite:///{Path(tempfile.gettempdir()) / 'flyer_demo.db'}")


class DataBase:
    """The demo's database (a ``fastflyer.database.get_dataset_pool``), as the seed's
    ``settings.py`` builds it, but opened on first use: the app is imported in the gunicorn
    master, and SQLAlchemy + dataset cost ~20 MiB and ~0.3 s that only the workers need.

    ``DataBase.table(name, schema)`` is the dataset table ``name``; the first call for a
    ``schema`` (SQLAlchemy ``MetaData``) creates its tables with ``CREATE TABLE IF NOT
    EXISTS``, which is safe when several workers start at once.
    """

    data_set = None
    _ready: set[int] = set()
    _lock = threading.Lock()

    @classmethod
    def table(cls, name: str, schema):
        if cls.data_set is None or id(schema) not in cls._ready:
            with cls._lock:
                if cls.data_set is None:
                    cls.data_set = _connect()
                if id(schema) not in cls._ready:
                    from sqlalchemy.schema import CreateTable

                    with cls.data_set.engine.begin() as conn:
                        for definition in schema.sorted_tables:
                            conn.execute(CreateTable(definition, if_not_exists=True))
                    cls._ready.add(id(schema))
        return cls.data_set[name]
