"""Contract of fastflyer/adapters/granian.py with the installed granian (no server started)."""

from __future__ import annotations

import asyncio
import inspect
import logging
import signal
from importlib.metadata import version

import granian._signals
import granian.cli
import granian.log
from fastflyer.adapters import granian as adapter
from fastflyer.server.granian import granian_options
from fastflyer.settings import load_settings


def changed(what: str) -> str:
    return f"granian {version('granian')} {what}: update fastflyer/adapters/granian.py"


def test_every_option_fastflyer_passes_is_a_constructor_parameter():
    parameters = inspect.signature(adapter.Granian.__init__).parameters
    for settings in (load_settings(), load_settings(reload=True, graceful_timeout=0)):
        unknown = set(granian_options(settings, 2)) - set(parameters)
        assert not unknown, changed(f"has no server option {sorted(unknown)}")


def test_serve_takes_a_loader_called_without_arguments():
    parameters = inspect.signature(adapter.Granian.serve).parameters
    assert {"target_loader", "wrap_loader"} <= set(parameters), changed("serve() changed")
    sources = [inspect.getsource(cls.serve) for cls in adapter.Granian.__mro__ if "serve" in vars(cls)]
    assert any("if wrap_loader:" in source for source in sources), \
        changed("no longer wraps the loader only on request")


def test_a_registered_loop_builder_is_what_a_worker_gets():
    built = []

    def builder():
        loop = asyncio.new_event_loop()
        built.append(loop)
        return loop

    adapter.register_loop("fastflyer-contract", builder)
    loop = adapter.loops.get("fastflyer-contract")
    try:
        assert built == [loop], changed("loops.get() no longer calls the registered builder")
    finally:
        loop.close()


def test_workers_install_their_stop_handlers_on_the_loop():
    class Recorder:
        def __init__(self):
            self.signals = []

        def add_signal_handler(self, sig, callback, *args):
            self.signals.append(sig)

    loop = Recorder()
    granian._signals.set_loop_signals(loop)
    assert {signal.SIGTERM, signal.SIGINT} <= set(loop.signals), \
        changed("no longer stops workers through loop.add_signal_handler")


def test_routed_log_config_leaves_granians_loggers_to_the_root_logger():
    assert set(adapter.LOGGERS) <= set(granian.log.LOGGING_CONFIG["loggers"]), \
        changed("renamed its loggers")
    try:
        granian.log.configure_logging(granian.log.LogLevels.info, adapter.routed_log_config())
        own = logging.getLogger("_granian")
        assert own.handlers == [] and own.propagate, changed("merges its log config differently")
        assert logging.getLogger("granian.access").level > logging.INFO
    finally:
        for name in adapter.LOGGERS:
            logging.getLogger(name).handlers = []


def test_smallest_head_buffer():
    option = next(p for p in granian.cli.cli.params if p.name == "http1_buffer_size")
    assert option.type.min == adapter.MIN_BUFFER_SIZE, changed("changed the smallest buffer")
    assert adapter.HTTP1Settings().max_buffer_size >= adapter.MIN_BUFFER_SIZE


def test_shortest_worker_lifetime():
    option = next(p for p in granian.cli.cli.params if p.name == "workers_lifetime")
    assert option.type.min == adapter.MIN_WORKERS_LIFETIME, changed("changed the shortest lifetime")
