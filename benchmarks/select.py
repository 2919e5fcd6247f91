"""``python -m benchmarks select``: the artifact this box should run, where the daemon can take it.

The choice is the fastest row (p50, batch 1) of a results.json whose artifact the bundle's
manifest marks shipped, i.e. it passed the export accuracy gate; a rejected artifact is never
chosen, however fast. The answer is written as a site YAML the daemon validates on load.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from edge_runtime.bundle import Bundle
from edge_runtime.config import load_site_config
from edge_runtime.errors import AditError


class SelectError(AditError):
    """No artifact can be selected from these results for this bundle."""


def select_artifact(bundle: Bundle, results: dict) -> tuple[str, dict]:
    """The artifact key and its results row: fastest among the rows the manifest ships."""
    status = {a.key: a.status for a in bundle.manifest.artifacts}
    rows = [r for r in results.get("rows", []) if r.get("backend") not in ("pytorch", "cv2.dnn")]
    # shipped by the bundle, and benchmarked as the device runs it (not a comparison row)
    eligible = [
        r
        for r in rows
        if r.get("status") != "comparison" and status.get(f"{r['format']}-{r['precision']}") == "shipped"
    ]
    if not eligible:
        measured = ", ".join(sorted({f"{r['format']}-{r['precision']}" for r in rows})) or "none"
        shipped = ", ".join(k for k, s in status.items() if s == "shipped") or "none"
        raise SelectError(
            f"no artifact of {bundle.root} both passed the accuracy gate and was benchmarked "
            f"(benchmarked: {measured}; shipped: {shipped})"
        )
    best = min(eligible, key=lambda r: r["p50_ms"])
    return f"{best['format']}-{best['precision']}", best


def write_selection(path: Path, bundle_path: Path, artifact: str, site: Path | None) -> None:
    """Write ``site`` (or the defaults) with model.bundle and model.artifact set, validated on the way out."""
    data = (yaml.safe_load(site.read_text()) if site else None) or {}
    data["model"] = {**data.get("model", {}), "bundle": str(bundle_path), "artifact": artifact}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# written by `python -m benchmarks select`: the fastest artifact that passed the accuracy gate\n"
        + yaml.safe_dump(data, sort_keys=False)
    )
    load_site_config(path)  # the daemon must accept it: fail here, not on the device


def load_results(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SelectError(f"{path}: cannot read benchmark results ({exc})") from exc
