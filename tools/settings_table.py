"""Rewrite the flyer_* tables from the settings model (the tests check they agree):
README.md in English, docs/zh-CN/configuration.md in Chinese.

Usage: python3 tools/settings_table.py            # both tables
       python3 tools/settings_table.py --lang zh  # only the Chinese one
       python3 tools/settings_table.py --check    # exit 1 when a table is out of date

English descriptions are the fields' own (``runtime/fastflyer/settings.py``); the Chinese ones
are kept here, in ``ZH``, keyed by field name: a setting without one stops the Chinese table
(and fails tests/test_docs_zh.py), so neither table can drift from the model.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from fastflyer.settings import FlyerSettings, load_settings

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
ZH_PAGE = REPO / "docs" / "zh-CN" / "configuration.md"

IN_WORDS = {
    "app_root": "current directory (`/app` in the image)",
    "graceful_timeout": "`10` (`1` with reload)",
    "workers": "`auto`",
}
IN_WORDS_ZH = {
    "app_root": "当前目录(镜像中为 `/app`)",
    "graceful_timeout": "`10`(热加载时为 `1`)",
    "workers": "`auto`",
}
HEADER = {"en": "| variable | default | meaning |", "zh": "| 环境变量 | 默认值 | 说明 |"}

# Chinese descriptions, one per field of FlyerSettings, in natural technical Chinese.
ZH = {
    "host": "监听地址。",
    "port": "监听端口。",
    "server": "服务引擎:`gunicorn`(uvicorn worker;单 worker 时只有一个进程、没有 master)"
              "或 `granian`(granian 主进程 + worker,支持 HTTP/2)。",
    "base_url": "所有路由和接口文档的 URL 前缀。",
    "version": "服务版本,显示在 OpenAPI 信息中。",
    "reload": "代码热加载,仅用于开发环境。",
    "workers": "工作进程数;`auto` 表示本容器实际可用的 CPU 数。",
    "threads": "每个 worker 中执行同步(`def`)接口的线程数。",
    "worker_connections": "每个 worker 的最大并发连接数(超出返回 503)。",
    "enable_max_requests": "处理 max_requests 个请求后重启 worker。",
    "max_requests": "worker 重启前处理的请求数。",
    "max_requests_jitter": "在 max_requests 上附加的随机抖动。",
    "timeout": "worker 心跳超时(秒)。",
    "startup_timeout": "worker 启动(执行应用的启动代码)允许的最长秒数,超过即视为启动失败;"
                       "与心跳超时相互独立。",
    "graceful_timeout": "收到 SIGTERM 后等待进行中请求完成的秒数(默认 10,热加载时为 1)。",
    "drain_delay": "收到 SIGTERM 后继续正常服务的秒数,此时就绪检查已返回 503,让负载均衡先摘除流量;"
                   "`auto` 在 Kubernetes 中(设置了 KUBERNETES_SERVICE_HOST)为 5,否则为 0。"
                   "再收到一次 SIGTERM 或 SIGINT 则跳过。",
    "worker_max_rss": "worker 常驻内存超过这么多 MiB 时回收重启(每 5 秒检查一次);0 为关闭。",
    "worker_max_age": "worker 运行这么多秒后回收重启,附加最多 10% 的抖动,避免所有 worker 同时重启;"
                      "0 为关闭。",
    "worker_memory": "flyer_workers=auto 时为每个 worker 预留的内存(MiB):worker 数不超过"
                     "cgroup 内存上限按此预算能容纳的数量。",
    "keepalive": "keep-alive 连接上等待下一个请求的秒数。",
    "max_body_size": "请求体的最大字节数(超出返回 413;0 为不限制)。",
    "max_header_size": "请求行加请求头的最大字节数(超出返回 431)。",
    "header_timeout": "客户端发送完请求头的时限(秒),用于应对慢速客户端。",
    "forwarded_allow_ips": "信任其 X-Forwarded-* 头的代理(逗号分隔,或 `*`);留空表示不信任任何代理。",
    "cors_origins": "CORS 允许的来源(逗号分隔,`*` 为任意来源);留空表示关闭 CORS。",
    "http": "HTTP 版本:`auto`(HTTP/1.1,引擎支持时也提供 HTTP/2)、`1`,或 `2`"
            "(仅 HTTP/2:h2c 先验知识方式,或 TLS + ALPN;需 granian 引擎)。",
    "ssl_certfile": "提供 HTTPS 的 TLS 证书(PEM);需同时设置 ssl_keyfile;不设置则为普通 HTTP。",
    "ssl_keyfile": "ssl_certfile 对应的 TLS 私钥(PEM)。",
    "app_root": "项目根目录,包含 `app/`、`settings.py`、`main.py`。",
    "apps_dir": "app_root 下存放子应用的目录,每个子应用一个包。",
    "docs_enable": "提供 Swagger UI、ReDoc 和 openapi.json。",
    "install_requirements": "入口脚本:启动时 pip install /app/requirements.txt(适用于挂载的代码)。",
    "console_log_level": "控制台日志级别。",
    "file_log_level": "日志文件的日志级别(需设置 log_path)。",
    "log_path": "日志文件目录;不设置则只输出到控制台。",
    "log_format": "日志格式:`text`(便于阅读的文本行)或 `json`(每行一个 JSON 对象,便于日志采集)。",
    "access_log": "每个请求记录一行访问日志。",
    "access_logfile": "访问日志输出位置(`-` 为标准输出)。",
    "access_log_exclude": "不记录访问日志的额外路径(逗号分隔)。",
    "metrics_enable": "提供 Prometheus 监控指标。",
    "metrics_path": "Prometheus 指标接口的路径。",
    "metrics_port": "在这个端口(监听 flyer_host)而不是主端口上提供指标;不设置则在主端口上提供,"
                    "开启 Basic 认证时同样受其保护。",
    "otel_enable": "OpenTelemetry 链路追踪(需安装 `otel` 扩展;通过标准的 `OTEL_*` 变量配置,"
                   "如 OTEL_EXPORTER_OTLP_ENDPOINT、OTEL_SERVICE_NAME)。",
    "auth_enable": "对应用路由开启 HTTP Basic 认证。",
    "auth_user": "HTTP Basic 用户名。",
    "auth_pass": "HTTP Basic 密码。",
    "redis_host": "Redis 主机;不设置则不使用 Redis。",
    "redis_port": "Redis 端口。",
    "redis_pass": "Redis 密码。",
    "redis_db": "Redis 数据库编号。",
    "scheduler_lock_lease": "任务锁(`@scheduler.lock()`)不续期时的持有秒数:持有者被杀死后,"
                            "任务最多在这么久之后由其他进程接手;单个任务可用 `expire=` 覆盖。",
    "db_host": "MySQL 主机;不设置则不使用数据库。",
    "db_port": "MySQL 端口。",
    "db_user": "MySQL 用户名。",
    "db_pass": "MySQL 密码。",
    "db_name": "MySQL 数据库名。",
    "db_chartset": "MySQL 字符集(沿用原版的拼写 chartset)。",
    "db_recycle_rate": "连接池中连接被回收重建前的秒数。",
    "db_pool_size": "连接池大小。",
    "db_url": "数据库的 SQLAlchemy URL(如 sqlite:////data/app.db);设置后覆盖 "
              "flyer_db_host/port/user/pass/name。",
}


def shown_default(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if value is None or value == [] or value == "":
        return "(unset)"
    return str(value)


def missing_zh() -> list[str]:
    """Settings of the model that have no Chinese description yet."""
    return [name for name in FlyerSettings.model_fields if not ZH.get(name)]


def table(lang: str = "en") -> str:
    if lang == "zh" and (missing := missing_zh()):
        raise SystemExit("no Chinese description for "
                         + ", ".join(f"flyer_{name}" for name in missing)
                         + ": add it to ZH in tools/settings_table.py")
    defaults = load_settings(app_root="/app").public_dict()
    words = IN_WORDS_ZH if lang == "zh" else IN_WORDS
    rows = [HEADER[lang], "|---|---|---|"]
    for name, field in FlyerSettings.model_fields.items():
        default = words.get(name) or f"`{shown_default(defaults[name])}`"
        if lang == "zh" and default == "`(unset)`":
            default = "(不设置)"
        meaning = ZH[name] if lang == "zh" else field.description
        rows.append(f"| `flyer_{name}` | {default} | {meaning} |")
    return "\n".join(rows) + "\n"


def rewritten(path: Path, lang: str) -> tuple[str, str]:
    """The file's text now and with its table regenerated."""
    text = path.read_text()
    pattern = re.escape(HEADER[lang]) + r"\n(\|.*\|\n)+"
    if not re.search(pattern, text):
        raise SystemExit(f"{path}: no table starting with {HEADER[lang]!r}")
    return text, re.sub(pattern, lambda _: table(lang), text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lang", choices=("en", "zh", "all"), default="all")
    parser.add_argument("--check", action="store_true", help="only report stale tables")
    args = parser.parse_args(argv)
    targets = {"en": [(README, "en")], "zh": [(ZH_PAGE, "zh")],
               "all": [(README, "en"), (ZH_PAGE, "zh")]}[args.lang]
    stale = []
    for path, lang in targets:
        old, new = rewritten(path, lang)
        if old != new:
            stale.append(path)
            if not args.check:
                path.write_text(new)
    if args.check and stale:
        print("out of date: " + ", ".join(str(p.relative_to(REPO)) for p in stale)
              + "; run `python3 tools/settings_table.py`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
