"""A masked flyer_db_url keeps which database it is (scheme, user, host, port, database) and
hides only the password and secret-looking query values; `fastflyer config` shows it so."""

from __future__ import annotations

import json

import pytest
from fastflyer.settings import masked_url

from tests.support import run_cli


@pytest.mark.parametrize(("url", "shown"), [
    ("mysql+pymysql://app:s3cret@db.example:3307/shop?charset=utf8mb4",
     "mysql+pymysql://app:***@db.example:3307/shop?charset=utf8mb4"),
    # '@', '#' and '/' in a raw password: everything before the last '@' is user info.
    ("mysql://app:a@b#c/d@db:3306/shop", "mysql://app:***@db:3306/shop"),
    ("postgresql://u:p@h/d?sslmode=require&password=x&api_key=y",
     "postgresql://u:***@h/d?sslmode=require&password=***&api_key=***"),
    ("postgresql://u@h:5432/d", "postgresql://u@h:5432/d"),
    ("sqlite:////data/app.db", "sqlite:////data/app.db"),
    ("not a url with s3cret", "******"),
])
def test_masked_url_hides_only_secrets(url, shown):
    assert masked_url(url) == shown


def test_config_shows_the_database_but_not_the_password(tmp_path):
    url = "mysql+pymysql://app:Sup3rS3cret@db.internal:3307/orders?charset=utf8mb4"
    result = run_cli("config", cwd=tmp_path, env={"flyer_db_url": url})
    assert result.returncode == 0, result.stderr
    assert "Sup3rS3cret" not in result.stdout + result.stderr
    shown = json.loads(result.stdout)["db_url"]
    assert shown == "mysql+pymysql://app:***@db.internal:3307/orders?charset=utf8mb4"
