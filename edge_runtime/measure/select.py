"""The artifact a box should run: the fastest (p50, batch 1) of those the bundle's manifest marks shipped,
i.e. that passed the export accuracy gate; a rejected artifact is never chosen, however fast.

Export records it in the manifest from its own measurement (``recommend``); ``adit select`` re-decides on
the device from figures measured there and records it beside the manifest (``edge_runtime.bundle.
write_selection``); ``python -m benchmarks select`` picks from a workstation results.json and can write
the answer as a site YAML the daemon validates on load.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from edge_runtime.bundle import Bundle, Recommendation
from edge_runtime.config import load_site_config
from edge_runtime.errors import AditError


class SelectError(AditError):
    """No artifact can be selected from these results for this bundle."""


def recommend(bundle: Bundle, p50_ms: dict[str, float], host: str, created: str = "") -> Recommendation:
    """The fastest shipped artifact among ``p50_ms`` (artifact key -> ms)."""
    shipped = {a.key for a in bundle.manifest.artifacts if a.status == "shipped"}
    measured = {key: round(ms, 3) for key, ms in p50_ms.items() if key in shipped}
    if not measured:
        raise SelectError(
            f"{bundle.root}: none of the measured artifacts ({', '.join(p50_ms) or 'none'}) passed the "
            f"accuracy gate (shipped: {', '.join(sorted(shipped)) or 'none'})"
        )
    return Recommendation(
        artifact=min(measured, key=measured.__getitem__), p50_ms=measured, host=host, created=created
    )


def row_key(row: dict) -> str:
    """A results row's artifact: ``adit bench`` rows name it, ``python -m benchmarks`` rows give its parts."""
    return str(row["artifact"]) if "artifact" in row else f"{row['format']}-{row['precision']}"


def select_artifact(bundle: Bundle, results: dict) -> tuple[str, dict]:
    """The artifact key and its results row: fastest among the rows the manifest ships (the results of
    ``python -m benchmarks`` or of ``adit bench``)."""
    status = {a.key: a.status for a in bundle.manifest.artifacts}
    rows = [r for r in results.get("rows", []) if r.get("backend") not in ("pytorch", "cv2.dnn")]
    # shipped by the bundle, and benchmarked as the device runs it (not a comparison row)
    eligible = [r for r in rows if r.get("status") != "comparison" and status.get(row_key(r)) == "shipped"]
    if not eligible:
        measured = ", ".join(sorted({row_key(r) for r in rows})) or "none"
        shipped = ", ".join(k for k, s in status.items() if s == "shipped") or "none"
        raise SelectError(
            f"no artifact of {bundle.root} both passed the accuracy gate and was benchmarked "
            f"(benchmarked: {measured}; shipped: {shipped})"
        )
    best = min(eligible, key=lambda r: r["p50_ms"])
    return row_key(best), best


def write_site_selection(path: Path, bundle_path: Path, artifact: str, site: Path | None) -> None:
    """Write ``site`` (or the defaults) with model.bundle and model.artifact set, validated on the way out."""
    data = (yaml.safe_load(site.read_text()) if site else None) or {}
    data["model"] = {**data.get("model", {}), "bundle": str(bundle_path), "artifact": artifact}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# written by `adit select --write`: the fastest artifact that passed the accuracy gate\n"
        + yaml.safe_dump(data, sort_keys=False)
    )
    load_site_config(path)  # the daemon must accept it: fail here, not on the device


def load_results(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SelectError(f"{path}: cannot read benchmark results ({exc})") from exc
