"""One logger for everything: loguru, with stdlib loggers (uvicorn, gunicorn, apscheduler,
httpx …) routed into it, the request id on every line, text or JSON output."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import orjson
from loguru import logger
from loguru._logger import Logger

from .context import request_id_var, trace_id_var

# The seed calls logger.warn(); loguru only has warning(). Alias it on the class so that
# bound/opt() loggers have it too (same function object, so caller frames stay right).
if not hasattr(Logger, "warn"):
    Logger.warn = Logger.warning  # type: ignore[attr-defined]

LEVEL_ALIASES = {"warn": "WARNING"}
TEXT_FORMAT = (
    "<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> | <level>{level: <8}</level> | "
    "{process} | {extra[request_id]}{extra[_trace]} | <cyan>{name}</cyan>:<cyan>{line}</cyan> - "
    "<level>{message}</level>"
)

_configured_pid: int | None = None


def loguru_level(name: str) -> str:
    return LEVEL_ALIASES.get(name.lower(), name.upper())


class InterceptHandler(logging.Handler):
    """Send stdlib ``logging`` records to loguru, keeping the original caller and logger name."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.patch(
            lambda r: r.update(name=record.name, function=record.funcName, line=record.lineno)
        ).opt(
            depth=0, exception=record.exc_info
        ).log(level, record.getMessage())


def _add_context(record: dict[str, Any]) -> None:
    request_id = request_id_var.get()
    if request_id is not None:
        record["extra"]["request_id"] = request_id
    trace_id = trace_id_var.get()
    if trace_id is not None:
        record["extra"]["trace_id"] = trace_id
        record["extra"]["_trace"] = f" trace={trace_id}"  # the text format's; "" by default


def json_line(record: dict[str, Any]) -> str:
    """One JSON object for one record (used by the JSON console and file sinks)."""
    payload: dict[str, Any] = {
        "time": record["time"].isoformat(timespec="milliseconds"),
        "level": record["level"].name,
        "message": record["message"],
        "logger": record["name"],
        "request_id": record["extra"].get("request_id", "-"),
        "pid": record["process"].id,
    }
    for key, value in record["extra"].items():
        if key not in payload and not key.startswith("_"):
            payload[key] = value
    if record["exception"] is not None:
        import traceback

        exc = record["exception"]
        payload["exception"] = "".join(
            traceback.format_exception(exc.type, exc.value, exc.traceback)
        )
    return orjson.dumps(payload, default=str).decode()


def _json_format(record: dict[str, Any]) -> str:
    record["extra"]["_json"] = json_line(record)
    return "{extra[_json]}\n"


def _writable_dir(path: Path) -> str | None:
    """None when ``path`` is (or can be made) a writable directory, else the reason."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".fastflyer-write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
        return None
    except OSError as exc:
        return exc.strerror or str(exc)


def configure_logging(
    console_level: str = "info",
    file_level: str = "info",
    log_path: Path | None = None,
    log_format: str = "text",
) -> None:
    """(Re)configure sinks for this process; stdlib loggers are routed into loguru."""
    global _configured_pid
    logger.remove()
    logger.configure(patcher=_add_context, extra={"request_id": "-", "_trace": ""})
    fmt: Any = _json_format if log_format == "json" else TEXT_FORMAT
    colorize = None if log_format == "text" else False
    logger.add(
        sys.stderr,
        level=loguru_level(console_level),
        format=fmt,
        colorize=colorize,
        backtrace=False,
        diagnose=False,
    )
    problem = None
    if log_path is not None:
        problem = _writable_dir(log_path)
        if problem is None:
            logger.add(
                str(log_path / "fastflyer.log"),
                level=loguru_level(file_level),
                format=fmt,
                colorize=False,
                backtrace=False,
                diagnose=False,
            )
    _route_stdlib_logging()
    _configured_pid = os.getpid()
    if problem is not None:
        logger.warning(
            f"flyer_log_path={str(log_path)!r} is not writable ({problem}); logging to console only"
        )


def _route_stdlib_logging() -> None:
    logging.basicConfig(handlers=[InterceptHandler()], level=logging.INFO, force=True)
    for name in ("uvicorn", "uvicorn.error", "gunicorn", "gunicorn.error", "apscheduler", "httpx"):
        std = logging.getLogger(name)
        std.handlers = []
        std.propagate = True
    # uvicorn's own access log is replaced by FastFlyer's access-log middleware.
    access = logging.getLogger("uvicorn.access")
    access.handlers = []
    access.propagate = False
    access.disabled = True
    # Chatty libraries: httpx logs every request at INFO (FastFlyer's Client logs its own
    # redacted line); alembic (through dataset) logs its plugin set-up at INFO.
    for name in ("httpx", "httpcore", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def configure_from_settings(settings: Any) -> None:
    configure_logging(
        console_level=settings.console_log_level,
        file_level=settings.file_log_level,
        log_path=settings.log_path,
        log_format=settings.log_format,
    )


__all__ = ["logger", "configure_logging", "configure_from_settings", "InterceptHandler", "json_line"]
