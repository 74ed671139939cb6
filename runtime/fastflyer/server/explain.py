"""Where each effective setting came from (``fastflyer config --explain`` and the boot line):
the environment, the command, the default, or a value derived from the machine (cgroup CPU or
memory, Kubernetes) — the question behind most "why does it run N workers?" reports."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from fastflyer.server.common import resolve_workers
from fastflyer.settings import FlyerSettings

ENV_PREFIX = "flyer_"


@dataclass(frozen=True)
class Explained:
    name: str  # the environment variable, e.g. flyer_workers
    value: Any  # JSON-able, secrets masked
    source: str  # environment | command | default | derived: why


def explain(settings: FlyerSettings, environ: Mapping[str, str] | None = None,
            workers: tuple[int, str] | None = None) -> list[Explained]:
    """Every setting with its effective value and its source, in the model's order."""
    environ = os.environ if environ is None else environ
    from_env = {key.lower() for key in environ if key.lower().startswith(ENV_PREFIX)}
    values = settings.public_dict()
    entries = []
    for name in type(settings).model_fields:
        variable = f"{ENV_PREFIX}{name}"
        if variable in from_env:
            source = "environment"
        elif name in settings.model_fields_set:
            source = "command"
        else:
            source = "default"
        entries.append(Explained(variable, values[name], source))
    derived: dict[str, tuple[Any, str]] = {}  # settings left to "auto" (or unset): why
    if settings.workers == "auto":
        derived["flyer_workers"] = workers or resolve_workers(settings)
    if settings.drain_delay == "auto":
        delay = settings.drain_delay_seconds
        why = "Kubernetes (KUBERNETES_SERVICE_HOST set)" if delay else "not under Kubernetes"
        derived["flyer_drain_delay"] = (
            delay, "granian engine: none" if settings.server == "granian" else why)
    if settings.graceful_timeout is None:
        derived["flyer_graceful_timeout"] = (
            settings.graceful_timeout_seconds, "reload mode" if settings.reload else "production")
    return [replace(e, value=derived[e.name][0], source=f"{e.source}: {derived[e.name][1]}")
            if e.name in derived else e for e in entries]


def as_json(entries: list[Explained]) -> str:
    return json.dumps({e.name: {"value": e.value, "source": e.source} for e in entries},
                      indent=2, ensure_ascii=False)


def as_table(entries: list[Explained]) -> str:
    rows = [("setting", "value", "source")]
    rows += [(e.name, json.dumps(e.value, ensure_ascii=False), e.source) for e in entries]
    widths = [min(48, max(len(row[i]) for row in rows)) for i in range(2)]
    return "\n".join(f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c}" for a, b, c in rows)


def one_line(entries: list[Explained]) -> str:
    """The boot summary: what was set, and what the machine decided."""
    chosen = [f"{e.name}={json.dumps(e.value, ensure_ascii=False)}" for e in entries
              if e.source.split(":")[0] in ("environment", "command")]
    derived = [f"{e.name}={json.dumps(e.value)} ({e.source.split(': ', 1)[1]})" for e in entries
               if ": " in e.source]
    defaults = sum(e.source.startswith("default") for e in entries)
    return (f"settings: {len(chosen)} set ({', '.join(chosen) or 'none'}); derived: "
            f"{', '.join(derived) or 'none'}; {defaults} defaults (fastflyer config --explain)")
