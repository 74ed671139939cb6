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
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LogLevel = Literal["trace", "debug", "info", "success", "warning", "warn", "error", "critical"]
CommaList = Annotated[list[str], NoDecode]

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
    graceful_timeout: int | None = Field(
        None, ge=0, description="Seconds to finish in-flight requests on SIGTERM (default 10, 1 with reload)."
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
    log_format: Literal["text", "json"] = Field("text", description="Log line format.")
    access_log: bool = Field(True, description="Log one line per request.")
    access_logfile: str = Field("-", description="Access log destination (`-` = stdout).")
    access_log_exclude: CommaList = Field(
        default_factory=list, description="Extra paths (comma list) left out of the access log."
    )

    # --- metrics ----------------------------------------------------------------------
    metrics_enable: bool = Field(True, description="Serve Prometheus metrics.")
    metrics_path: str = Field("/metrics", description="Path of the Prometheus metrics endpoint.")
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
        data["graceful_timeout"] = self.graceful_timeout_seconds
        return data


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
