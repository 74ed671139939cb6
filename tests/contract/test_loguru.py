"""Contract of fastflyer/adapters/loguru.py with the installed loguru."""

from __future__ import annotations

import inspect
from importlib.metadata import version

from fastflyer.adapters import loguru as adapter
from loguru import logger


def changed(what: str) -> str:
    return f"loguru {version('loguru')} {what}: update fastflyer/adapters/loguru.py"


def test_every_logger_is_of_the_class_the_adapter_patches():
    derived = {"bind()": logger.bind(x=1), "opt()": logger.opt(depth=1),
               "patch()": logger.patch(lambda record: None)}
    for how, other in derived.items():
        assert type(other) is adapter.Logger, changed(
            f"gives loggers made by {how} another class than loguru.logger's")


def test_logging_methods_are_plain_functions_of_the_class():
    for name in ("warning", "info", "log"):
        assert inspect.isfunction(adapter.Logger.__dict__.get(name)), changed(
            f"no longer defines Logger.{name} as a function on the class")


def test_an_alias_reports_its_callers_frame():
    records: list = []
    sink = logger.add(records.append, level="DEBUG", format="{message}")
    adapter.add_method_alias("fastflyer_contract_warn", "warning")
    try:
        line = inspect.currentframe().f_lineno + 1
        logger.bind(x=1).fastflyer_contract_warn("aliased")
    finally:
        delattr(adapter.Logger, "fastflyer_contract_warn")
        logger.remove(sink)
    (message,) = records
    record = message.record
    assert (record["function"], record["line"], record["level"].name) == (
        "test_an_alias_reports_its_callers_frame", line, "WARNING"), changed(
        "finds the caller's frame another way: a method alias reports the wrong caller")
