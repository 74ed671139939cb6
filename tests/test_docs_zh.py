"""The Chinese documentation and the migration guides stay true: the Chinese settings table is
the settings model's (every setting needs a Chinese description), README.zh-CN.md's quick start
is the English one's and works, links resolve, the migration guides name every flyer_*
variable of the original, and the Python examples in the Chinese pages are valid Python."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from fastflyer.settings import FlyerSettings

from tests.support import REPO, base_env, fastflyer_exe, free_port, wait_http

sys.path.insert(0, str(REPO / "tools"))
import settings_table  # noqa: E402

ZH_DIR = REPO / "docs" / "zh-CN"
README_ZH = REPO / "README.zh-CN.md"
SEED = Path(os.environ.get("FASTFLYER_SEED", REPO.parent / "shared" / "seed" /
                           "000_7f7f7d56e101c9aa.txt"))
PAGES = ["quickstart", "project", "configuration", "sdk", "image", "observability",
         "operations", "migration"]
HINT = "run `python3 tools/settings_table.py --lang zh`"
# Every flyer_* variable the original's page names (checked against the page when it is there).
SEED_VARIABLES = {
    "flyer_access_log", "flyer_access_logfile", "flyer_base_url", "flyer_console_log_level",
    "flyer_db_chartset", "flyer_db_host", "flyer_db_name", "flyer_db_pass", "flyer_db_pool_size",
    "flyer_db_port", "flyer_db_recycle_rate", "flyer_db_user", "flyer_enable_max_requests",
    "flyer_file_log_level", "flyer_graceful_timeout", "flyer_host", "flyer_keepalive",
    "flyer_max_requests", "flyer_max_requests_jitter", "flyer_polaris_enabled",
    "flyer_polaris_heartbeat_interval", "flyer_polaris_metadata_XXXXXXX",
    "flyer_polaris_namespace", "flyer_polaris_service", "flyer_polaris_token", "flyer_port",
    "flyer_rainbow_app_id", "flyer_rainbow_enabled", "flyer_rainbow_env_name",
    "flyer_rainbow_group_name", "flyer_rainbow_host", "flyer_rainbow_secret_key",
    "flyer_rainbow_sync_enabled", "flyer_rainbow_sync_interval", "flyer_rainbow_user_id",
    "flyer_redis_db", "flyer_redis_host", "flyer_redis_pass", "flyer_redis_port", "flyer_reload",
    "flyer_threads", "flyer_timeout", "flyer_version", "flyer_worker_connections",
    "flyer_workers", "flyer_zhiyan_log_enabled", "flyer_zhiyan_log_proto",
    "flyer_zhiyan_log_topic", "flyer_zhiyan_my_ip",
}


def code_blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", text, re.M | re.S)


def section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def commands(block: str) -> list[str]:
    """The command of each line of a shell block, without its trailing comment."""
    return [line.split("  #")[0].rstrip() for line in block.splitlines() if line.strip()]


# --- settings table ---------------------------------------------------------------------------

def test_every_setting_has_a_chinese_description():
    missing = settings_table.missing_zh()
    assert not missing, ("no Chinese description for "
                         + ", ".join(f"flyer_{n}" for n in missing)
                         + ": add it to ZH in tools/settings_table.py")


def test_chinese_table_matches_the_settings_model():
    text = (ZH_DIR / "configuration.md").read_text()
    assert settings_table.table("zh") in text, HINT
    rows = re.findall(r"^\| `(flyer_[a-z0-9_]+)` \|", text, re.M)
    assert rows == [f"flyer_{name}" for name in FlyerSettings.model_fields], HINT


def test_chinese_descriptions_are_chinese():
    for name, text in settings_table.ZH.items():
        assert re.search(r"[\u4e00-\u9fff]", text), f"flyer_{name}: {text!r}"


def test_table_tool_check_mode_agrees():
    result = subprocess.run([sys.executable, str(REPO / "tools" / "settings_table.py"),
                             "--lang", "zh", "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# --- README.zh-CN.md ----------------------------------------------------------------------------

def test_readmes_link_each_other_from_their_first_line():
    assert "(README.zh-CN.md)" in (REPO / "README.md").read_text().splitlines()[0]
    assert "(README.md)" in README_ZH.read_text().splitlines()[0]


def test_chinese_quick_start_has_the_english_commands():
    english = section((REPO / "README.md").read_text(), "Quick start")
    chinese = section(README_ZH.read_text(), "快速开始")
    for lang in ("sh", "dockerfile"):
        wanted = [c for block in code_blocks(english, lang) for c in commands(block)]
        shown = [c for block in code_blocks(chinese, lang) for c in commands(block)]
        assert wanted and set(wanted) <= set(shown), set(wanted) - set(shown)


def test_chinese_quick_start_serves_the_demo():
    """The first command of the quick start, run as written (the package is installed already:
    `pip install .` is left out), serves the demo and its docs."""
    chinese = section(README_ZH.read_text(), "快速开始")
    first = commands(code_blocks(chinese, "sh")[0])[0]
    assert first == "pip install . && cd examples/demo && fastflyer serve"
    port = free_port()
    env = base_env(flyer_host="127.0.0.1", flyer_port=str(port), flyer_workers="1")
    env["PATH"] = f"{Path(fastflyer_exe()).parent}{os.pathsep}{env.get('PATH', '')}"
    command = first.removeprefix("pip install . && ").replace("&& fastflyer", "&& exec fastflyer")
    proc = subprocess.Popen(["bash", "-c", command],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/health_check", proc=proc)
        assert httpx.get(f"http://127.0.0.1:{port}/health_check").json() == {
            "code": 200, "message": "success"}
        assert httpx.get(f"http://127.0.0.1:{port}/flyer/docs").status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=20)


# --- pages, links, examples -------------------------------------------------------------------

def test_every_chinese_page_exists_and_is_chinese():
    for page in PAGES:
        text = (ZH_DIR / f"{page}.md").read_text()
        han = len(re.findall(r"[\u4e00-\u9fff]", text))
        assert han > 300, f"docs/zh-CN/{page}.md has only {han} Chinese characters"
        assert "README.zh-CN.md" in text, f"docs/zh-CN/{page}.md does not link back"
    readme = README_ZH.read_text()
    for page in PAGES:
        assert f"docs/zh-CN/{page}.md" in readme, f"README.zh-CN.md does not link {page}.md"


DOCS = [README_ZH, REPO / "README.md", REPO / "docs" / "migration.md",
        *(ZH_DIR / f"{page}.md" for page in PAGES)]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(doc: Path):
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text()):
        if "://" in target or target.startswith("mailto:"):
            continue
        assert (doc.parent / target).exists(), f"{doc.name}: broken link {target}"


def test_python_examples_in_chinese_pages_are_valid():
    for page in PAGES:
        for n, block in enumerate(code_blocks((ZH_DIR / f"{page}.md").read_text(), "python")):
            compile(block, f"docs/zh-CN/{page}.md[{n}]", "exec")


# --- migration guides ---------------------------------------------------------------------------

def test_migration_guides_name_every_variable_of_the_original():
    variables = set(SEED_VARIABLES)
    if SEED.is_file():  # the list above is the page's, no more and no less
        assert set(re.findall(r"flyer_[A-Za-z_]+", SEED.read_text())) == variables
    for guide in (REPO / "docs" / "migration.md", ZH_DIR / "migration.md"):
        named = set(re.findall(r"flyer_[A-Za-z_]+", guide.read_text()))
        assert not variables - named, f"{guide.name} lacks {sorted(variables - named)}"


def test_migration_guides_cover_the_deliberate_changes():
    english = (REPO / "docs" / "migration.md").read_text()
    for phrase in ("Real HTTP statuses", "Envelope on errors", "TLS verification on",
                   "Retry settings really work", "fastflyer>=0.2", "from settings import Cache",
                   "add_job(customfunc, \"interval\", seconds=5, id=\"customjob\")"):
        assert phrase in english, phrase
    chinese = (ZH_DIR / "migration.md").read_text()
    for phrase in ("真实的 HTTP 状态码", "错误也使用信封", "TLS 证书校验", "重试参数真正生效",
                   "fastflyer>=0.2", "from settings import Cache"):
        assert phrase in chinese, phrase


def test_the_package_satisfies_the_documented_requirement():
    """Docs tell users to require "fastflyer>=0.2" (PyPI's fastflyer is 0.1.x): this one is."""
    import fastflyer
    from packaging.version import Version

    version = re.search(r'^version = "([^"]+)"', (REPO / "pyproject.toml").read_text(), re.M)[1]
    assert Version(version) >= Version("0.2") and fastflyer.__version__ == version
    for doc in (README_ZH, REPO / "README.md", REPO / "docs" / "migration.md",
                ZH_DIR / "quickstart.md", ZH_DIR / "migration.md"):
        assert "fastflyer>=0.2" in doc.read_text(), doc.name
