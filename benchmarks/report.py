"""Medians over rounds, ratios to the references, the issue's targets, the printed table."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

REFERENCES = ("R0", "R1", "G0", "G1")  # each cell's req/s is also given as a ratio to these


def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Per contender: per cell medians (errors summed), and process medians."""
    summary: dict[str, Any] = {}
    names = {name for r in rounds for name in r["contenders"]}
    for name in sorted(names):
        samples = [r["contenders"][name] for r in rounds if name in r["contenders"]]
        cells: dict[str, Any] = {}
        for key in samples[0]["cells"]:
            runs = [s["cells"][key] for s in samples]
            cells[key] = {
                "rps": median([c["rps"] for c in runs]),
                "p50_ms": median([c["p50_us"] / 1000 for c in runs]),
                "p99_ms": median([c["p99_us"] / 1000 for c in runs]),
                "max_ms": max(c["max_us"] for c in runs) / 1000,
                "cpu_us_per_req": median([c["cpu_us_per_req"] for c in runs]),
                "bytes_per_resp": median([c["bytes"] / max(c["requests"], 1) for c in runs]),
                "requests": sum(c["requests"] for c in runs),
                "errors": sum(c["errors"] for c in runs),
                "timeouts": sum(c["timeout"] for c in runs),
                "non_2xx": sum(c["status"] for c in runs),
                "rps_per_round": [round(c["rps"], 1) for c in runs],
                # Older result files have no readings per cell.
                "sockets_held": median([c.get("sockets_held") for c in runs]),
                "tree_pss_after_mib": median([c.get("tree_pss_after_mib") for c in runs]),
                "worker_rss_after_mib": median([c.get("worker_rss_after_mib") for c in runs]),
            }
        summary[name] = {
            "cells": cells,
            "startup_ms": median([s["startup_ms"] for s in samples]),
            "worker_rss_mib": median([s["worker_rss_mib"] for s in samples]),
            # Older result files have no reading at the end of the last cell.
            "worker_rss_at_end_mib": median([s.get("worker_rss_at_end_mib") or s["worker_rss_mib"]
                                             for s in samples]),
            "master_rss_mib": median([s["master_rss_mib"] for s in samples]),
            # Older result files have no PSS readings.
            "tree_pss_mib": median([s.get("tree_pss_mib") for s in samples]),
            "idle_pss_mib": median([s.get("idle_pss_mib") for s in samples]),
            "access_log_lines": sum(s.get("access_log_lines") or 0 for s in samples) or None,
        }
    for entry in summary.values():
        for key, cell in entry["cells"].items():
            for ref in REFERENCES:
                other = summary.get(ref, {}).get("cells", {}).get(key)
                cell[f"x_{ref}"] = cell["rps"] / other["rps"] if other and other["rps"] else None
    return summary


@dataclass(frozen=True)
class Target:
    label: str
    need: str  # ">=" or "<=" or "== 0"
    bound: float
    measure: Any  # summary -> value or None

    def evaluate(self, summary: dict[str, Any]) -> dict[str, Any]:
        try:
            value = self.measure(summary)
        except (KeyError, TypeError, ZeroDivisionError):
            value = None
        if value is None:
            met = None
        elif self.need == ">=":
            met = value >= self.bound
        elif self.need == "<=":
            met = value <= self.bound
        else:
            met = value == self.bound
        return {"target": self.label, "value": value, "need": f"{self.need} {self.bound:g}",
                "met": met}


def _rps(summary: dict, name: str, key: str) -> float:
    return summary[name]["cells"][key]["rps"]


def _ratio(s: dict, key: str, name: str, ref: str) -> float:
    return s[name][key] / s[ref][key]


def _after(s: dict, key: str, name: str, ref: str, cell: str = "item@100") -> float:
    """Memory after the same cell, served in full by both: at 1000 connections uvicorn's own
    acceptor holds only part of the clients (the rest wait, or time out), and so pays less."""
    return s[name]["cells"][cell][key] / s[ref]["cells"][cell][key]


TARGETS = (
    Target("health: fastflyer / R1 (raw ASGI)", ">=", 0.9,
           lambda s: _rps(s, "fastflyer", "health@100") / _rps(s, "R1", "health@100")),
    Target("item: fastflyer / R0 (bare FastAPI)", ">=", 0.97,
           lambda s: _rps(s, "fastflyer", "item@100") / _rps(s, "R0", "item@100")),
    Target("(info) item: fastflyer / R0r (demo's routers, bare FastAPI)", ">=", 0.95,
           lambda s: _rps(s, "fastflyer", "item@100") / _rps(s, "R0r", "item@100")),
    Target("item: access log on / off", ">=", 0.85,
           lambda s: _rps(s, "fastflyer+log", "item@100") / _rps(s, "fastflyer", "item@100")),
    Target("worker RSS after item@100: fastflyer / R0", "<=", 1.2,
           lambda s: _after(s, "worker_rss_after_mib", "fastflyer", "R0")),
    Target("start to first 200: fastflyer / R0", "<=", 2.0,
           lambda s: s["fastflyer"]["startup_ms"] / s["R0"]["startup_ms"]),
    # One worker against a bare uvicorn process serving the same FastAPI app (R0r: the
    # demo's routers): what a one-worker pod pays, whole process tree.
    Target("container PSS at 1 worker, after item@100: fastflyer / R0r", "<=", 1.2,
           lambda s: _after(s, "tree_pss_after_mib", "fastflyer", "R0r")),
    Target("(info) container PSS at 1 worker, after all cells: fastflyer / R0r", "<=", 1.2,
           lambda s: _ratio(s, "tree_pss_mib", "fastflyer", "R0r")),
    Target("(info) container PSS at 1 worker, idle: fastflyer / R0r", "<=", 1.2,
           lambda s: _ratio(s, "idle_pss_mib", "fastflyer", "R0r")),
    Target("start to first 200 at 1 worker: fastflyer / R0r", "<=", 1.2,
           lambda s: _ratio(s, "startup_ms", "fastflyer", "R0r")),
    # The granian engine against the same apps on bare granian.
    Target("item: fastflyer-granian / G0 (bare FastAPI on granian)", ">=", 1.0,
           lambda s: _rps(s, "fastflyer-granian", "item@100") / _rps(s, "G0", "item@100")),
    Target("health: fastflyer-granian / G1 (raw ASGI on granian)", ">=", 0.9,
           lambda s: _rps(s, "fastflyer-granian", "health@100") / _rps(s, "G1", "health@100")),
    Target("errors + timeouts at 1000 connections (fastflyer)", "==", 0,
           lambda s: sum(c["errors"] for k, c in s["fastflyer"]["cells"].items()
                         if k.endswith("@1000")) if any(k.endswith("@1000") for k in
                                                        s["fastflyer"]["cells"]) else None),
)


def evaluate(summary: dict[str, Any]) -> list[dict[str, Any]]:
    return [t.evaluate(summary) for t in TARGETS]


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def render(summary: dict[str, Any], targets: list[dict[str, Any]], order: list[str]) -> str:
    """The one table (throughput, latency, CPU, ratios), then processes, then targets."""
    lines = [
        f"{'contender':<17} {'cell':<12} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'CPU us/req':>10} {'errors':>6} {'x R0':>5} {'x R1':>5} {'x G0':>5} {'x G1':>5}"
    ]
    for name in order:
        for key, c in summary.get(name, {}).get("cells", {}).items():
            lines.append(
                f"{name:<17} {key:<12} {_fmt(c['rps'], ',.0f'):>9} {_fmt(c['p50_ms'], '.2f'):>7} "
                f"{_fmt(c['p99_ms'], '.2f'):>7} {_fmt(c['cpu_us_per_req'], '.1f'):>10} "
                f"{c['errors']:>6} "
                + " ".join(f"{_fmt(c.get(f'x_{ref}'), '.2f'):>5}" for ref in REFERENCES)
            )
    lines.append("")
    lines.append(f"{'contender':<17} {'start->200 ms':>13} {'worker RSS MiB':>14} "
                 f"{'(at end)':>8} {'master RSS MiB':>14} {'x R0 start':>10} {'x R0 RSS':>8} "
                 f"{'tree PSS MiB':>12} {'(idle)':>6} {'(item@100)':>10} "
                 f"{'sockets held @1000':>18}")
    r0 = summary.get("R0", {})
    for name in order:
        s = summary.get(name)
        if not s:
            continue
        start_ratio = s["startup_ms"] / r0["startup_ms"] if r0.get("startup_ms") else None
        rss_ratio = (s["worker_rss_mib"] / r0["worker_rss_mib"]
                     if r0.get("worker_rss_mib") and s["worker_rss_mib"] else None)
        lines.append(
            f"{name:<17} {_fmt(s['startup_ms'], '.0f'):>13} {_fmt(s['worker_rss_mib'], '.1f'):>14} "
            f"{_fmt(s['worker_rss_at_end_mib'], '.1f'):>8} "
            f"{_fmt(s['master_rss_mib'], '.1f'):>14} {_fmt(start_ratio, '.2f'):>10} "
            f"{_fmt(rss_ratio, '.2f'):>8} {_fmt(s.get('tree_pss_mib'), '.1f'):>12} "
            f"{_fmt(s.get('idle_pss_mib'), '.1f'):>6} "
            f"{_fmt(s['cells'].get('item@100', {}).get('tree_pss_after_mib'), '.1f'):>10} "
            f"{_fmt(s['cells'].get('item@1000', {}).get('sockets_held'), '.0f'):>18}"
        )
    lines.append("")
    lines.append(f"{'target':<52} {'measured':>9} {'need':>8}  result")
    for t in targets:
        result = {True: "met", False: "MISSED", None: "n/a"}[t["met"]]
        lines.append(f"{t['target']:<52} {_fmt(t['value'], '.3g'):>9} {t['need']:>8}  {result}")
    return "\n".join(lines)
