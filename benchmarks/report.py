"""Medians over rounds, ratios to the references, the issue's targets, the printed table."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any


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
            }
        summary[name] = {
            "cells": cells,
            "startup_ms": median([s["startup_ms"] for s in samples]),
            "worker_rss_mib": median([s["worker_rss_mib"] for s in samples]),
            # Older result files have no reading at the end of the last cell.
            "worker_rss_at_end_mib": median([s.get("worker_rss_at_end_mib") or s["worker_rss_mib"]
                                             for s in samples]),
            "master_rss_mib": median([s["master_rss_mib"] for s in samples]),
            "access_log_lines": sum(s.get("access_log_lines") or 0 for s in samples) or None,
        }
    for entry in summary.values():
        for key, cell in entry["cells"].items():
            for ref in ("R0", "R1"):
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


TARGETS = (
    Target("health: fastflyer / R1 (raw ASGI)", ">=", 0.85,
           lambda s: _rps(s, "fastflyer", "health@100") / _rps(s, "R1", "health@100")),
    Target("item: fastflyer / R0 (bare FastAPI)", ">=", 0.95,
           lambda s: _rps(s, "fastflyer", "item@100") / _rps(s, "R0", "item@100")),
    Target("(info) item: fastflyer / R0r (demo's routers, bare FastAPI)", ">=", 0.95,
           lambda s: _rps(s, "fastflyer", "item@100") / _rps(s, "R0r", "item@100")),
    Target("item: access log on / off", ">=", 0.85,
           lambda s: _rps(s, "fastflyer+log", "item@100") / _rps(s, "fastflyer", "item@100")),
    Target("worker RSS after load: fastflyer / R0", "<=", 1.2,
           lambda s: s["fastflyer"]["worker_rss_mib"] / s["R0"]["worker_rss_mib"]),
    Target("start to first 200: fastflyer / R0", "<=", 2.0,
           lambda s: s["fastflyer"]["startup_ms"] / s["R0"]["startup_ms"]),
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
        f"{'contender':<14} {'cell':<12} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'CPU us/req':>10} {'errors':>6} {'x R0':>5} {'x R1':>5}"
    ]
    for name in order:
        for key, c in summary.get(name, {}).get("cells", {}).items():
            lines.append(
                f"{name:<14} {key:<12} {_fmt(c['rps'], ',.0f'):>9} {_fmt(c['p50_ms'], '.2f'):>7} "
                f"{_fmt(c['p99_ms'], '.2f'):>7} {_fmt(c['cpu_us_per_req'], '.1f'):>10} "
                f"{c['errors']:>6} {_fmt(c['x_R0'], '.2f'):>5} {_fmt(c['x_R1'], '.2f'):>5}"
            )
    lines.append("")
    lines.append(f"{'contender':<14} {'start->200 ms':>13} {'worker RSS MiB':>14} "
                 f"{'(at end)':>8} {'master RSS MiB':>14} {'x R0 start':>10} {'x R0 RSS':>8}")
    r0 = summary.get("R0", {})
    for name in order:
        s = summary.get(name)
        if not s:
            continue
        start_ratio = s["startup_ms"] / r0["startup_ms"] if r0.get("startup_ms") else None
        rss_ratio = (s["worker_rss_mib"] / r0["worker_rss_mib"]
                     if r0.get("worker_rss_mib") and s["worker_rss_mib"] else None)
        lines.append(
            f"{name:<14} {_fmt(s['startup_ms'], '.0f'):>13} {_fmt(s['worker_rss_mib'], '.1f'):>14} "
            f"{_fmt(s['worker_rss_at_end_mib'], '.1f'):>8} "
            f"{_fmt(s['master_rss_mib'], '.1f'):>14} {_fmt(start_ratio, '.2f'):>10} "
            f"{_fmt(rss_ratio, '.2f'):>8}"
        )
    lines.append("")
    lines.append(f"{'target':<52} {'measured':>9} {'need':>8}  result")
    for t in targets:
        result = {True: "met", False: "MISSED", None: "n/a"}[t["met"]]
        lines.append(f"{t['target']:<52} {_fmt(t['value'], '.3g'):>9} {t['need']:>8}  {result}")
    return "\n".join(lines)
