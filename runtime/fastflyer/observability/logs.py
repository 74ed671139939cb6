"""One logger for everything: loguru, with stdlib loggers (uvicorn, gunicorn, apscheduler,
httpx …) and structlog routed into it, the request id on every line, text or JSON output.

A project's own logging set-up (console handlers, loguru sinks, structlog's renderer) is taken
over once its code has run (:func:`adopt_project_logging`): each line appears once, in
FastFlyer's format, and a structured event's fields stay fields."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import orjson
from loguru import logger

from fastflyer.adapters import loguru as loguru_adapter
from fastflyer.observability.context import request_id_var, trace_id_var
from fastflyer.observability.escape import escape_control

# The seed calls logger.warn(); loguru only has warning().
loguru_adapter.add_method_alias("warn", "warning")

LEVEL_ALIASES = {"warn": "WARNING"}
TEXT_FORMAT = (
    "<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> | <level>{level: <8}</level> | "
    "{process} | {extra[request_id]}{extra[_trace]} | <cyan>{name}</cyan>:<cyan>{line}</cyan> - "
    "<level>{message}</level>"
)

_configured_pid: int | None = None
_config: dict[str, Any] = {}  # the arguments of the last configure_logging()
ROUTED_LOGGERS = ("uvicorn", "uvicorn.error", "gunicorn", "gunicorn.error", "apscheduler", "httpx")
# structlog's keys that FastFlyer's line already carries in its own form.
STRUCTLOG_OWN_KEYS = ("event", "level", "timestamp", "logger", "exc_info", "stack_info")
STRUCTLOG_LEVELS = {"warn": "WARNING", "exception": "ERROR", "fatal": "CRITICAL", "msg": "INFO",
                    "log": "INFO", "failure": "ERROR", "err": "ERROR"}


def loguru_level(name: str) -> str:
    return LEVEL_ALIASES.get(name.lower(), name.upper())


def _text_value(value: Any) -> str:
    if isinstance(value, str):
        plain = value and not any(c in value for c in ' ="\\') and value.isprintable()
        return value if plain else orjson.dumps(value).decode()
    if value is None or isinstance(value, (bool, int, float)):
        return orjson.dumps(value).decode()
    return orjson.dumps(value, default=str).decode()


def log_event(level: str | int, message: str, fields: dict[str, Any], name: str,
              exception: Any = None, function: str = "", line: int = 0) -> None:
    """One structured event: its fields are JSON fields, or ``key=value`` after the message
    in text mode (never a Python repr)."""
    target = logger.patch(lambda r: r.update(name=name, function=function, line=line))
    if fields:
        if _config.get("log_format") == "json":
            target = target.bind(**{str(k): v for k, v in fields.items()})
        else:
            message = " ".join([message, *(f"{k}={_text_value(v)}" for k, v in fields.items())])
    target.opt(depth=0, exception=exception).log(level, message)


class InterceptHandler(logging.Handler):
    """Send stdlib ``logging`` records to loguru, keeping the original caller and logger name.
    A record whose message is a dict (structlog's ``wrap_for_formatter``) is a structured event."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        if isinstance(record.msg, dict) and not record.args:
            fields = {k: v for k, v in record.msg.items() if k not in STRUCTLOG_OWN_KEYS}
            log_event(level, str(record.msg.get("event", "")), fields, record.name,
                      record.exc_info, record.funcName, record.lineno)
            return
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


def _add_context_escaped(record: dict[str, Any]) -> None:
    """Text lines: a message cannot break the line or reach the terminal (it may carry
    request data); JSON lines are escaped by the encoder."""
    _add_context(record)
    record["message"] = escape_control(record["message"])


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
    adopting: bool = False,
) -> None:
    """(Re)configure sinks for this process; stdlib loggers are routed into loguru (not again
    when ``adopting`` a project's set-up: :func:`_reclaim_stdlib` keeps its file handlers)."""
    global _configured_pid
    _config.update(console_level=console_level, file_level=file_level, log_path=log_path,
                   log_format=log_format)
    logger.remove()
    patcher = _add_context if log_format == "json" else _add_context_escaped
    logger.configure(patcher=patcher, extra={"request_id": "-", "_trace": ""})
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
    if not adopting:
        _route_stdlib_logging()
    _configured_pid = os.getpid()
    if problem is not None and not adopting:
        logger.warning(
            f"flyer_log_path={str(log_path)!r} is not writable ({problem}); logging to console only"
        )


def _route_stdlib_logging() -> None:
    logging.basicConfig(handlers=[InterceptHandler()], level=logging.INFO, force=True)
    for name in ROUTED_LOGGERS:
        std = logging.getLogger(name)
        std.handlers = []
        std.propagate = True
    # uvicorn's own access log is replaced by FastFlyer's access-log middleware.
    access = logging.getLogger("uvicorn.access")
    access.handlers = []
    access.propagate = False
    access.disabled = True
    # Chatty libraries: httpx logs every request at INFO (FastFlyer's Client logs its own
    # redacted line); alembic (through dataset) logs its plugin set-up at INFO; APScheduler's
    # executors log every fire twice at INFO ("executed successfully" also for a fire the job
    # lock skipped). Their warnings and errors still show.
    for name in ("httpx", "httpcore", "alembic", "apscheduler.executors"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _writes_to_console(handler: logging.Handler) -> bool:
    if not isinstance(handler, logging.StreamHandler) or isinstance(handler, logging.FileHandler):
        return False
    stream = handler.stream
    try:
        return stream.fileno() in (1, 2)
    except (AttributeError, OSError, ValueError):
        return stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)


def _reclaim_stdlib() -> None:
    """Console handlers the project added would print each line a second time, in its own
    format: they go; its file handlers stay. A logger that does not propagate keeps its lines
    through an InterceptHandler of its own."""
    root = logging.getLogger()
    loggers = [root, *(v for v in logging.root.manager.loggerDict.values()
                       if isinstance(v, logging.Logger))]
    for std in loggers:
        removed = False
        for handler in list(std.handlers):
            if _writes_to_console(handler) or (std is root and isinstance(handler, InterceptHandler)):
                std.removeHandler(handler)
                removed = True
        if std is root:
            root.addHandler(InterceptHandler())
        elif removed and not std.propagate:
            std.addHandler(InterceptHandler())
    for name in ROUTED_LOGGERS:  # dictConfig() disables the loggers it does not name
        logging.getLogger(name).disabled = False


def _structlog_to_loguru(wrapped: Any, method_name: str, event_dict: Any) -> Any:
    """structlog's last processor under FastFlyer: the event goes to loguru as fields."""
    import structlog

    if not isinstance(event_dict, dict):  # the project's own renderer ran: a finished line
        message = event_dict.decode() if isinstance(event_dict, bytes) else str(event_dict)
        log_event(STRUCTLOG_LEVELS.get(method_name, method_name.upper()), message, {}, "structlog")
        raise structlog.DropEvent
    level = str(event_dict.get("level") or method_name).lower()
    exception = event_dict.get("exc_info")
    if exception is True or (exception is None and method_name == "exception"):
        exception = sys.exc_info() if sys.exc_info()[0] is not None else None
    name = event_dict.get("logger") or getattr(wrapped, "name", None) or "structlog"
    fields = {k: v for k, v in event_dict.items() if k not in STRUCTLOG_OWN_KEYS}
    log_event(STRUCTLOG_LEVELS.get(level, level.upper()), str(event_dict.get("event", "")),
              fields, str(name), exception or None)
    raise structlog.DropEvent


def _is_structlog_renderer(processor: Any) -> bool:
    import structlog

    renderers: tuple[type, ...] = (structlog.processors.JSONRenderer, structlog.processors.KeyValueRenderer,
                                   structlog.dev.ConsoleRenderer)
    logfmt = getattr(structlog.processors, "LogfmtRenderer", None)
    if logfmt is not None:
        renderers = (*renderers, logfmt)
    bridges = (structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
               structlog.stdlib.render_to_log_kwargs,
               getattr(structlog.stdlib, "render_to_log_args_and_kwargs", None))
    return isinstance(processor, renderers) or processor in bridges


def _reclaim_structlog() -> None:
    """structlog renders and prints by itself (or hands a dict to stdlib): its renderer is
    replaced by a processor that logs the event through loguru. The list is changed in place
    so that loggers the project already bound and cached use it too."""
    structlog = sys.modules.get("structlog")
    if structlog is None:
        return
    processors = structlog.get_config()["processors"]
    if processors and processors[-1] is _structlog_to_loguru:
        return
    updated = [*processors[:-1]] if processors and _is_structlog_renderer(processors[-1]) else [*processors]
    updated.append(_structlog_to_loguru)
    processors[:] = updated
    structlog.configure(processors=processors)


def adopt_project_logging() -> None:
    """After the project's code ran (import, start-up): its console handlers and loguru sinks
    are replaced by FastFlyer's, structlog is routed into loguru. Only where FastFlyer
    configured logging (not under a plain ``uvicorn main:app``)."""
    if _configured_pid is None:
        return
    _reclaim_stdlib()
    # loguru has no public list of sinks: removing them all and adding FastFlyer's again is
    # the documented way to take over whatever the project added.
    configure_logging(**_config, adopting=True)
    _reclaim_structlog()


def configure_from_settings(settings: Any) -> None:
    configure_logging(
        console_level=settings.console_log_level,
        file_level=settings.file_log_level,
        log_path=settings.log_path,
        log_format=settings.log_format,
    )


__all__ = ["logger", "configure_logging", "configure_from_settings", "adopt_project_logging",
           "InterceptHandler", "json_line", "log_event"]
