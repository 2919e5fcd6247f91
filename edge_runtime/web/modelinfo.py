"""The model page's content: the bundle's manifest made readable, and this box's benchmark if present."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from edge_runtime.bundle import Manifest

log = logging.getLogger(__name__)

BENCH_COLUMNS = ("p50_ms", "p90_ms", "throughput_fps", "top1", "mAP50", "mIoU")


def model_info(
    manifest: Manifest,
    in_use: str,
    runtime_precision: str,
    benchmark: Path | None,
    recommended: tuple[str, str] = ("", ""),
) -> dict[str, Any]:
    metric_names: list[str] = []
    for artifact in manifest.artifacts:
        metric_names += [name for name in artifact.metrics if name not in metric_names]
    artifacts = [
        {
            "key": artifact.key,
            "format": artifact.format,
            "precision": artifact.precision,
            "status": artifact.status,
            "size_mb": round((artifact.bytes + (artifact.weights.bytes if artifact.weights else 0)) / 1e6, 2),
            "metrics": artifact.metrics,
            "note": artifact.note,
            "in_use": artifact.key == in_use,
        }
        for artifact in manifest.artifacts
    ]
    return {
        "name": manifest.name,
        "version": manifest.version,
        "task": manifest.task,
        "classes": manifest.classes,
        "input": manifest.input.model_dump(mode="json"),
        "in_use": in_use,
        "recommended": recommended[0],
        "recommended_why": recommended[1],
        "runtime_precision": runtime_precision,
        "metric_names": metric_names,
        "artifacts": artifacts,
        "provenance": flatten(manifest.provenance),
        "benchmark": read_benchmark(benchmark) if benchmark is not None else None,
    }


def flatten(tree: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Nested provenance as ``a.b: value`` rows, the way an engineer would grep it."""
    rows: list[tuple[str, str]] = []
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            rows += flatten(value, f"{path}.")
        else:
            rows.append((path, value if isinstance(value, str) else json.dumps(value)))
    return rows


def read_benchmark(path: Path) -> dict[str, Any] | None:
    """The latest ``results.json`` of ``python -m benchmarks``; None when absent or unreadable."""
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
        rows = [
            {"name": row["name"], "status": row.get("status", ""), **{c: row.get(c) for c in BENCH_COLUMNS}}
            for row in results["rows"]
        ]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("benchmark %s not shown: %s", path, exc)
        return None
    columns = [c for c in BENCH_COLUMNS if any(row[c] is not None for row in rows)]
    host = results.get("host", {})
    return {
        "path": str(path),
        "created": results.get("created", ""),
        "host": f"{host.get('cpu', '?')}, {host.get('cores', '?')} cores, {host.get('memory_gib', '?')} GiB",
        "recommended": results.get("recommended"),
        "columns": columns,
        "rows": rows,
    }
