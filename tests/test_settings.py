"""The settings model: defaults, parsing, validation messages, masking, CPU detection."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastflyer.server.cpu import available_cpus, cgroup_v1_limit, cgroup_v2_limit
from fastflyer.settings import (
    FlyerSettings,
    SettingsError,
    internal_integration_notices,
    load_settings,
)

from tests.support import REPO, run_cli


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    import os

    for key in list(os.environ):
        if key.lower().startswith("flyer_"):
            monkeypatch.delenv(key)


def test_defaults_match_the_seed():
    s = load_settings()
    assert (s.host, s.port, s.base_url, s.version) == ("0.0.0.0", 8080, "/flyer", "v1")
    assert s.reload is False and s.workers == "auto" and s.threads == 5
    assert s.worker_connections == 1000 and s.timeout == 60 and s.keepalive == 5
    assert s.graceful_timeout_seconds == 10
    assert s.console_log_level == "info" and s.access_log is True and s.access_logfile == "-"


def test_env_values_are_parsed(monkeypatch):
    monkeypatch.setenv("flyer_port", "9000")
    monkeypatch.setenv("FLYER_WORKERS", "3")
    monkeypatch.setenv("flyer_reload", "1")
    monkeypatch.setenv("flyer_base_url", "/api/v2/")
    monkeypatch.setenv("flyer_cors_origins", "https://a.example, https://b.example")
    monkeypatch.setenv("flyer_console_log_level", "WARN")
    s = load_settings()
    assert s.port == 9000 and s.workers == 3 and s.reload is True
    assert s.base_url == "/api/v2"
    assert s.cors_origins == ["https://a.example", "https://b.example"]
    assert s.console_log_level == "warn"
    assert s.graceful_timeout_seconds == 1  # reload mode default


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("flyer_port", "abc", "flyer_port='abc'"),
        ("flyer_port", "70000", "flyer_port='70000'"),
        ("flyer_base_url", "no-slash", "flyer_base_url='no-slash': must start with '/'"),
        ("flyer_workers", "0", "flyer_workers='0': must be 'auto' or a whole number"),
        ("flyer_workers", "many", "flyer_workers='many'"),
        ("flyer_reload", "maybe", "flyer_reload='maybe'"),
        ("flyer_console_log_level", "loud", "flyer_console_log_level='loud'"),
        ("flyer_log_format", "xml", "flyer_log_format='xml'"),
    ],
)
def test_invalid_values_name_variable_and_value(monkeypatch, name, value, expected):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert len(info.value.lines) == 1
    assert info.value.lines[0].startswith(expected)


def test_every_bad_variable_gets_its_own_line(monkeypatch):
    monkeypatch.setenv("flyer_port", "abc")
    monkeypatch.setenv("flyer_threads", "-1")
    with pytest.raises(SettingsError) as info:
        load_settings()
    names = sorted(line.split("=")[0] for line in info.value.lines)
    assert names == ["flyer_port", "flyer_threads"]


def test_auth_enabled_without_credentials_is_an_error(monkeypatch):
    monkeypatch.setenv("flyer_auth_enable", "1")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert "flyer_auth_user" in info.value.lines[0]


def test_public_dict_masks_secrets(monkeypatch):
    monkeypatch.setenv("flyer_redis_pass", "s3cret-redis")
    monkeypatch.setenv("flyer_db_pass", "s3cret-db")
    data = json.dumps(load_settings().public_dict())
    assert "s3cret" not in data and '"redis_pass": "******"' in data


def test_internal_integrations_get_a_notice():
    notices = internal_integration_notices({"flyer_rainbow_enabled": "1", "flyer_port": "1"})
    assert len(notices) == 1 and "not included in this edition" in notices[0]


def test_config_command_prints_json_with_secrets_masked():
    result = run_cli("config", env={"flyer_redis_pass": "marker-xyz", "flyer_workers": "2"})
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["workers_resolved"] == 2 and data["workers_decided_by"] == "flyer_workers"
    assert "marker-xyz" not in result.stdout + result.stderr


def test_config_command_exits_2_with_one_line_per_error():
    result = run_cli("config", env={"flyer_port": "abc", "flyer_base_url": "no-slash"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, result.stderr
    assert any("flyer_port='abc'" in line for line in lines)
    assert any("flyer_base_url='no-slash'" in line for line in lines)
    assert "Traceback" not in result.stderr


# --- CPU limits -----------------------------------------------------------------------------

def test_cgroup_v2_quota(tmp_path: Path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_v2_limit(tmp_path)[0] == 1.5
    assert available_cpus(tmp_path).cpus == min(2, len(__import__("os").sched_getaffinity(0)))


def test_cgroup_v2_unlimited(tmp_path: Path):
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_v2_limit(tmp_path) is None


def test_cgroup_v1_quota(tmp_path: Path):
    cpu = tmp_path / "cpu,cpuacct"
    cpu.mkdir()
    (cpu / "cpu.cfs_quota_us").write_text("100000\n")
    (cpu / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_v1_limit(tmp_path)[0] == 1.0
    limit = available_cpus(tmp_path)
    assert limit.cpus == 1 and "cgroup v1" in limit.source


def test_cgroup_v1_unlimited(tmp_path: Path):
    cpu = tmp_path / "cpu"
    cpu.mkdir()
    (cpu / "cpu.cfs_quota_us").write_text("-1\n")
    (cpu / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_v1_limit(tmp_path) is None
    assert "affinity" in available_cpus(tmp_path).source


def test_small_quota_rounds_up_to_one(tmp_path: Path):
    (tmp_path / "cpu.max").write_text("20000 100000\n")
    assert available_cpus(tmp_path).cpus == 1


# --- README table ---------------------------------------------------------------------------

def test_readme_table_matches_the_settings_model():
    """Every field is documented in the README with its real default, and nothing else is."""
    text = (REPO / "README.md").read_text()
    rows = re.findall(r"^\| `(flyer_[a-z0-9_]+)` \| ([^|]*) \|", text, re.M)
    documented = {name: default.strip() for name, default in rows}
    fields = {f"flyer_{name}" for name in FlyerSettings.model_fields}
    assert set(documented) == fields, "run `python3 tools/settings_table.py`"
    defaults = load_settings(app_root="/app").public_dict()
    hint = "run `python3 tools/settings_table.py` to regenerate the README table"
    for name in fields:
        shown = documented[name].strip("`")
        if name in ("flyer_app_root", "flyer_graceful_timeout", "flyer_workers"):
            continue  # documented in words: cwd / 10 (1 with reload) / auto
        value = defaults[name.removeprefix("flyer_")]
        if isinstance(value, bool):
            value = "1" if value else "0"
        elif value is None or value == [] or value == "":
            value = "(unset)"
        assert shown == str(value), f"{name}: README says {shown!r}, model says {value!r}; {hint}"
