"""Every ``flyer_*`` setting, read from the environment once, typed and validated.

This module is the only place that reads the process environment for configuration
(the entrypoint shell script reads the few variables it needs before Python starts).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LogLevel = Literal["trace", "debug", "info", "success", "warning", "warn", "error", "critical"]
CommaList = Annotated[list[str], NoDecode]

KUBERNETES_DRAIN_DELAY = 5.0  # seconds: endpoint removal reaches kube-proxy and ingresses
BASE_URL_PATTERN = re.compile(r"^/[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")

# Variables of the original product's Tencent-internal integrations (not in this edition).
INTERNAL_INTEGRATIONS = {
    "flyer_rainbow_": "Rainbow configuration centre",
    "flyer_polaris_": "Polaris service discovery",
    "flyer_zhiyan_": "Zhiyan log shipping",
}


class FlyerSettings(BaseSettings):
    """The resolved configuration of one FastFlyer process."""

    model_config = SettingsConfigDict(
        env_prefix="flyer_",
        case_sensitive=False,
        extra="ignore",
        validate_default=True,
    )

    # --- server -----------------------------------------------------------------------
    host: str = Field("0.0.0.0", description="Bind address.")
    port: int = Field(8080, ge=1, le=65535, description="Bind port.")
    server: Literal["gunicorn", "granian"] = Field(
        "gunicorn", description="Server engine: `gunicorn` (uvicorn workers; at one worker one "
        "process, no master) or `granian` (granian's main process + workers; HTTP/2)."
    )
    base_url: str = Field("/flyer", description="URL prefix of all routes and docs.")
    version: str = Field("v1", description="Service version shown in the OpenAPI info.")
    reload: bool = Field(False, description="Hot reload of the project (development only).")
    workers: int | Literal["auto"] = Field(
        "auto", description="Worker processes; `auto` = CPUs this container may use."
    )
    threads: int = Field(5, ge=1, le=1000, description="Threads for sync (`def`) endpoints per worker.")
    worker_connections: int = Field(
        1000, ge=1, description="Max concurrent connections per worker (503 beyond)."
    )
    enable_max_requests: bool = Field(False, description="Recycle workers after max_requests.")
    max_requests: int = Field(0, ge=0, description="Requests a worker serves before recycling.")
    max_requests_jitter: int = Field(0, ge=0, description="Random jitter added to max_requests.")
    timeout: int = Field(60, ge=0, description="Worker heartbeat timeout in seconds.")
    startup_timeout: int = Field(
        120, ge=1, description="Seconds a worker may take to start (the app's start-up code) "
        "before the start counts as failed; separate from the heartbeat timeout."
    )
    graceful_timeout: int | None = Field(
        None, ge=0, description="Seconds to finish in-flight requests on SIGTERM (default 10, 1 with reload)."
    )
    drain_delay: float | Literal["auto"] = Field(
        "auto", description="Seconds to keep serving after SIGTERM while readiness answers 503, so "
        "that load balancers stop sending first; `auto` = 5 under Kubernetes "
        "(KUBERNETES_SERVICE_HOST set), else 0. A second SIGTERM or SIGINT skips it."
    )
    worker_max_rss: int = Field(
        0, ge=0, description="Recycle a worker whose resident memory exceeds this many MiB "
        "(checked every 5 s); 0 = off."
    )
    worker_max_age: int = Field(
        0, ge=0, description="Recycle a worker after this many seconds, plus up to 10 % jitter "
        "so that workers do not restart together; 0 = off."
    )
    worker_memory: int = Field(
        256, ge=16, description="MiB budgeted per worker when flyer_workers=auto: no more "
        "workers than the cgroup memory limit holds at this budget."
    )
    keepalive: int = Field(5, ge=0, description="Seconds to wait for a request on a keep-alive connection.")
    max_body_size: int = Field(
        10 * 1024 * 1024, ge=0, description="Largest request body in bytes (413 beyond; 0 = no limit)."
    )
    max_header_size: int = Field(
        64 * 1024, ge=1024, description="Largest request line + headers in bytes (431 beyond)."
    )
    header_timeout: float = Field(
        10.0, gt=0, description="Seconds a client has to send a request's headers (slow clients)."
    )
    forwarded_allow_ips: str = Field(
        "", description="Proxies whose X-Forwarded-* headers are trusted (comma list or `*`); empty = none."
    )
    cors_origins: CommaList = Field(
        default_factory=list, description="Origins allowed by CORS (comma list, `*` = any); empty = off."
    )
    http: Literal["auto", "1", "2"] = Field(
        "auto", description="HTTP version: `auto` (HTTP/1.1, and HTTP/2 where the engine has it), "
        "`1`, or `2` (HTTP/2 only: h2c with prior knowledge, or TLS with ALPN; granian engine)."
    )
    ssl_certfile: Path | None = Field(
        None, description="TLS certificate (PEM) to serve HTTPS; needs ssl_keyfile; unset = plain HTTP."
    )
    ssl_keyfile: Path | None = Field(None, description="TLS private key (PEM) of ssl_certfile.")

    # --- project ----------------------------------------------------------------------
    app_root: Path = Field(
        default_factory=Path.cwd, description="Project root holding `app/`, `settings.py`, `main.py`."
    )
    apps_dir: str = Field("app", description="Directory under app_root with one package per sub-app.")
    docs_enable: bool = Field(True, description="Serve Swagger UI, ReDoc and openapi.json.")
    install_requirements: bool = Field(
        False, description="Entrypoint: pip install /app/requirements.txt at start (mounted code)."
    )

    # --- logging ----------------------------------------------------------------------
    console_log_level: LogLevel = Field("info", description="Console log level.")
    file_log_level: LogLevel = Field("info", description="File log level (needs log_path).")
    log_path: Path | None = Field(None, description="Directory for log files; unset = console only.")
    log_format: Literal["text", "json"] = Field(
        "text", description="Log line format: `text` (readable lines) or `json` (one JSON object "
        "per line, for log collectors)."
    )
    access_log: bool = Field(True, description="Log one line per request.")
    access_logfile: str = Field("-", description="Access log destination (`-` = stdout).")
    access_log_exclude: CommaList = Field(
        default_factory=list, description="Extra paths (comma list) left out of the access log."
    )

    # --- metrics ----------------------------------------------------------------------
    metrics_enable: bool = Field(True, description="Serve Prometheus metrics.")
    metrics_path: str = Field("/metrics", description="Path of the Prometheus metrics endpoint.")
    metrics_port: int | None = Field(
        None, ge=1, le=65535,
        description="Serve the metrics on this port (on flyer_host) and not on the main port; "
        "unset = on the main port, behind Basic auth when that is on.",
    )
    otel_enable: bool = Field(
        False, description="OpenTelemetry tracing (needs the `otel` extra; configured by the "
        "standard `OTEL_*` variables, e.g. OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME)."
    )

    # --- security ---------------------------------------------------------------------
    auth_enable: bool = Field(False, description="HTTP Basic auth on app routes.")
    auth_user: str = Field("", description="HTTP Basic user.")
    auth_pass: SecretStr = Field(SecretStr(""), description="HTTP Basic password.")

    # --- Redis (schedulers' distributed lock, readiness) -----------------------------
    redis_host: str | None = Field(None, description="Redis host; unset = no Redis.")
    redis_port: int = Field(6379, ge=1, le=65535, description="Redis port.")
    redis_pass: SecretStr = Field(SecretStr(""), description="Redis password.")
    redis_db: int = Field(0, ge=0, description="Redis database number.")
    scheduler_lock_lease: float = Field(
        5.0, ge=1, le=3600,
        description="Seconds a job lock (`@scheduler.lock()`) is held without renewal: a killed "
        "holder's job runs elsewhere after at most this; per job `expire=`.",
    )

    # --- database (readiness; seed's settings.py examples) ---------------------------
    db_host: str | None = Field(None, description="MySQL host; unset = no database.")
    db_port: int = Field(3306, ge=1, le=65535, description="MySQL port.")
    db_user: str = Field("root", description="MySQL user.")
    db_pass: SecretStr = Field(SecretStr(""), description="MySQL password.")
    db_name: str = Field("flyer", description="MySQL database.")
    db_chartset: str = Field("utf8mb4", description="MySQL character set (seed's spelling).")
    db_recycle_rate: int = Field(900, ge=1, description="Seconds before a pooled connection is recycled.")
    db_pool_size: int = Field(32, ge=1, description="Connection pool size.")
    db_url: SecretStr | None = Field(
        None,
        description="SQLAlchemy URL of the database (e.g. sqlite:////data/app.db); "
        "overrides flyer_db_host/port/user/pass/name.",
    )

    @field_validator("base_url", mode="before")
    @classmethod
    def _check_base_url(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            if len(value) > 1:
                value = value.rstrip("/")
            if not BASE_URL_PATTERN.match(value):
                raise ValueError(
                    "must start with '/' and contain only letters, digits and . _ - (e.g. /flyer)"
                )
        return value

    @field_validator("metrics_path", mode="before")
    @classmethod
    def _check_metrics_path(cls, value: Any) -> Any:
        if isinstance(value, str) and not BASE_URL_PATTERN.match(value):
            raise ValueError("must be a path like /metrics")
        return value

    @field_validator("workers", mode="before")
    @classmethod
    def _check_workers(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().lower()
            if value in ("", "auto"):
                return "auto"
            if not value.isdigit() or int(value) < 1:
                raise ValueError("must be 'auto' or a whole number of at least 1")
            return int(value)
        if isinstance(value, int) and value < 1:
            raise ValueError("must be 'auto' or a whole number of at least 1")
        return value

    @field_validator("drain_delay", mode="before")
    @classmethod
    def _check_drain_delay(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().lower()
            if value in ("", "auto"):
                return "auto"
            try:
                value = float(value)
            except ValueError:
                raise ValueError("must be 'auto' or a number of seconds") from None
        if isinstance(value, (int, float)) and not 0 <= value <= 3600:
            raise ValueError("must be 'auto' or between 0 and 3600 seconds")
        return value

    @field_validator("server", "http", mode="before")
    @classmethod
    def _lower_choice(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("http", mode="after")
    @classmethod
    def _check_http(cls, value: str, info: ValidationInfo) -> str:
        if value == "2" and info.data.get("server") == "gunicorn":
            raise ValueError("HTTP/2 needs flyer_server=granian (the gunicorn engine serves "
                             "HTTP/1.1 only); use auto or 1")
        return value

    @field_validator("ssl_certfile", "ssl_keyfile", mode="after")
    @classmethod
    def _check_tls_file(cls, value: Path | None) -> Path | None:
        if value is not None:
            value = value.expanduser().resolve()
            if not value.is_file():
                raise ValueError("no such file")
        return value

    @field_validator("ssl_keyfile", mode="after")
    @classmethod
    def _check_tls_pair(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if "ssl_certfile" not in info.data:  # the certificate itself was refused
            return value
        if value is None and info.data["ssl_certfile"] is not None:
            raise ValueError("needed with flyer_ssl_certfile (set both or neither)")
        if value is not None and info.data["ssl_certfile"] is None:
            raise ValueError("needs flyer_ssl_certfile too (set both or neither)")
        return value

    @field_validator("console_log_level", "file_log_level", mode="before")
    @classmethod
    def _lower_level(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("cors_origins", "access_log_exclude", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("app_root", mode="after")
    @classmethod
    def _absolute_root(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @model_validator(mode="after")
    def _check_auth(self) -> FlyerSettings:
        if self.auth_enable and not (self.auth_user and self.auth_pass.get_secret_value()):
            raise ValueError(
                "flyer_auth_enable=1 needs flyer_auth_user and flyer_auth_pass to be set"
            )
        return self

    # --- derived values -----------------------------------------------------------------
    @property
    def graceful_timeout_seconds(self) -> int:
        if self.graceful_timeout is not None:
            return self.graceful_timeout
        return 1 if self.reload else 10

    @property
    def drain_delay_seconds(self) -> float:
        if self.drain_delay != "auto":
            return float(self.drain_delay)
        if self.server == "granian":  # it stops accepting at once: no delay to offer
            return 0.0
        return KUBERNETES_DRAIN_DELAY if os.environ.get("KUBERNETES_SERVICE_HOST") else 0.0

    @property
    def apps_path(self) -> Path:
        return self.app_root / self.apps_dir

    @property
    def redis_url(self) -> str | None:
        """Redis URL including the password; never log it (see :meth:`public_dict`)."""
        if not self.redis_host:
            return None
        password = self.redis_pass.get_secret_value()
        auth = f":{password}@" if password else ""
        return f"redis://{auth}{self.redis_host}:{self.redis_port}/{self.redis_db}"

    def public_dict(self) -> dict[str, Any]:
        """The settings as plain JSON-able values with every secret masked."""
        data = self.model_dump(mode="json")
        for name, field in type(self).model_fields.items():
            if field.annotation is SecretStr:
                data[name] = "******" if getattr(self, name).get_secret_value() else ""
        if self.db_url is not None:  # which database stays readable; only the password is hidden
            data["db_url"] = masked_url(self.db_url.get_secret_value())
        data["graceful_timeout"] = self.graceful_timeout_seconds
        return data


SECRET_QUERY_KEY = re.compile(r"pass|pwd|secret|token|key|auth", re.I)


def masked_url(url: str) -> str:
    """``url`` with the password and secret-looking query values shown as ``***``; scheme,
    user, host, port and database stay. Everything before the last ``@`` counts as user info,
    so a password holding ``@``, ``#`` or ``/`` is hidden whole."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "******"
    if "@" in rest:
        userinfo, _, rest = rest.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        rest = f"{user}{':***' if colon else ''}@{rest}"
    head, question, query = rest.partition("?")
    if question:
        pairs = [pair.partition("=") for pair in query.split("&")]
        query = "&".join(f"{key}{eq}{'***' if eq and SECRET_QUERY_KEY.search(key) else value}"
                         for key, eq, value in pairs)
    return f"{scheme}://{head}{question}{query}"


class SettingsError(Exception):
    """Invalid configuration; ``lines`` has one readable line per bad variable."""

    def __init__(self, lines: list[str]):
        super().__init__("\n".join(lines))
        self.lines = lines


def _describe(error: dict[str, Any]) -> str:
    loc = [str(part) for part in error.get("loc", ()) if not str(part).isdigit()]
    # Literal/union errors carry the branch name (e.g. "int", "literal['auto']") in loc.
    loc = [part for part in loc if part in FlyerSettings.model_fields]
    message = error.get("msg", "invalid value").removeprefix("Value error, ")
    if not loc:
        return f"configuration error: {message}"
    name = f"flyer_{loc[0]}"
    value = error.get("input")
    return f"{name}={value!r}: {message}"


def load_settings(**overrides: Any) -> FlyerSettings:
    """Read and validate the settings, raising :class:`SettingsError` with readable lines."""
    try:
        return FlyerSettings(**overrides)
    except ValidationError as exc:
        seen: dict[str, str] = {}
        for error in exc.errors(include_url=False):
            line = _describe(error)
            key = line.split("=", 1)[0]
            # A union (e.g. workers: int | "auto") reports once per branch; keep the first.
            seen.setdefault(key, line)
        raise SettingsError(list(seen.values())) from None


_current: FlyerSettings | None = None


def get_settings() -> FlyerSettings:
    """The process-wide settings, read once (or as installed by :func:`use_settings`)."""
    global _current
    if _current is None:
        _current = load_settings()
    return _current


def use_settings(settings: FlyerSettings) -> None:
    """Make ``settings`` the process-wide settings (the CLI installs what it validated)."""
    global _current
    _current = settings


def internal_integration_notices(environ: dict[str, str] | None = None) -> list[str]:
    """One notice per Tencent-internal integration whose variables are set."""
    environ = os.environ if environ is None else environ
    notices = []
    for prefix, what in INTERNAL_INTEGRATIONS.items():
        names = sorted(k for k in environ if k.lower().startswith(prefix))
        if names:
            notices.append(
                f"{', '.join(names)}: {what} is not included in this edition of FastFlyer; ignored"
            )
    return notices
