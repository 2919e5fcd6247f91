"""Check a bundle on the box that received it, without torch: every digest, then every artifact run once
on a zero input (it loads, fits its manifest, and runs). ``export verify`` and ``adit verify`` print this."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.bundle import Bundle, load_bundle
from edge_runtime.errors import BundleError
from edge_runtime.model import BundleModel, expected_input


def smoke_run(bundle: Bundle) -> dict[str, str]:
    """``{artifact key: "ran in <precision>, outputs [shapes]"}``; raises BundleError naming the artifact."""
    shape = tuple(1 if dim is None else dim for dim in expected_input(bundle.manifest)[0])
    outcomes = {}
    for artifact in bundle.manifest.artifacts:
        model = BundleModel(
            bundle, artifact
        )  # holds the model's shapes against the manifest, naming the field
        try:
            outputs = model.infer(np.zeros(shape, dtype=np.float32))
        except Exception as exc:  # any backend failure means the artifact cannot ship
            if artifact.status == "rejected":  # the gate knew already; the device never picks it
                outcomes[artifact.key] = f"rejected, does not run ({exc})"
                continue
            raise BundleError(f"{bundle.root}: {artifact.file} does not run on a zero input ({exc})") from exc
        outcomes[artifact.key] = (
            f"ran in {model.runtime_precision}, outputs {[list(o.shape) for o in outputs]}"
        )
    return outcomes


def summary(bundle: Bundle) -> str:
    """What export and verify print: each artifact's figure, size, status, and any rejection plainly."""
    gate = bundle.manifest.provenance.get("gate", {})
    metric = gate.get("metric") or next(iter(bundle.manifest.artifacts[0].metrics), "metric")
    lines = [f"bundle {bundle.root} ({bundle.manifest.task}, {len(bundle.manifest.classes)} classes)"]
    floor = gate.get("floor")
    if floor is not None and not floor["passed"]:
        lines.append(floor_line(bundle.manifest.provenance))
    for a in bundle.manifest.artifacts:
        ran = f"ran in {a.runtime_precision}" if a.runtime_precision else ""
        value = f"{100 * a.metrics[metric]:6.2f}%" if metric in a.metrics else "     –"
        lines.append(f"  {a.key:<15} {metric} {value}  {a.total_bytes / 1e6:6.2f} MB  {a.status:<8} {ran}")
    for a in bundle.manifest.artifacts:
        if a.status == "rejected" and not refused(bundle.manifest.provenance):
            fallback = ", ".join(
                s.key for s in bundle.manifest.artifacts if s.status == "shipped" and s.precision != "int8"
            )
            kind = "INT8" if a.precision == "int8" else "ARTIFACT"
            lines.append(
                f"{kind} REJECTED: {a.key} missed the accuracy budget; {a.note.split('gate on ', 1)[-1]}."
            )
            for attempt in a.attempts:
                figure = 100 * attempt.metrics.get(metric, float("nan"))
                verdict = "passed" if attempt.passed else "failed"
                lines.append(
                    f"    tried {attempt.method:<26} {metric} {figure:6.2f}% (validation)  {verdict}"
                )
            lines.append(f"  -> not shipping {a.key}; use {fallback or 'a floating-point artifact'} instead.")
    return "\n".join(lines)


def refused(provenance: dict[str, Any]) -> bool:
    """True when the floor refused the model: nothing of it ships."""
    floor = provenance.get("gate", {}).get("floor")
    return floor is not None and not floor["passed"] and not floor["override"]


def floor_line(provenance: dict[str, Any]) -> str:
    floor = provenance["gate"]["floor"]
    figure = (
        f"FP32 {floor['metric']} {100 * floor['value']:.2f}% (validation) < floor {100 * floor['floor']:.2f}%"
    )
    if floor["override"]:
        return f"BELOW THE FLOOR, SHIPPED BY OVERRIDE (--accept-below-floor): {figure}"
    return (
        f"NOT FIT TO DEPLOY: {figure}; no artifact is shipped. Train longer or on more data, "
        "or pass --accept-below-floor to ship it anyway (recorded in the manifest)."
    )


def verify_bundle(path: Path) -> str:
    """The report of a bundle that verifies; BundleError (naming the file) when it does not."""
    bundle = load_bundle(path)
    lines = [summary(bundle), "OK: every artifact matches the manifest"]
    lines += [f"  {key:<15} {outcome}" for key, outcome in smoke_run(bundle).items()]
    lines.append("OK: every artifact loads and runs on a zero input")
    artifact, why = bundle.recommended()
    lines.append(f"runs by default: {artifact.key}, {why}")
    return "\n".join(lines)
