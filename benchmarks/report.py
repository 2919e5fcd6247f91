"""results.json and report.md: the figures, and a verdict a site engineer can act on."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.models import Row


def recommend(rows: list[dict]) -> dict | None:
    """The fastest shipped artifact: what the device should run."""
    shipped = [r for r in rows if r["backend"] != "pytorch" and r["status"] == "shipped"]
    return min(shipped, key=lambda r: r["p50_ms"]) if shipped else None


def build_results(host: dict, rows: list[Row], bundle_name: str, synthetic: bool) -> dict:
    data = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "bundle": bundle_name,
        "synthetic_data": synthetic,
        "host": host,
        "latency_mode": "batch 1, synchronous, after warm-up",
        "rows": [asdict(r) for r in rows],
    }
    data["recommended"] = (recommend(data["rows"]) or {}).get("name")
    return data


def render_markdown(results: dict) -> str:
    host = results["host"]
    lines = [
        f"# Benchmark: {results['bundle']}",
        "",
        f"Measured {results['created']} on **{host['cpu']}** ({host['cores']} cores, "
        f"{', '.join(host['isa'])}), {results['latency_mode']}.",
    ]
    if results.get("synthetic_data"):
        lines += ["", "> Accuracy is measured on adit's **synthetic** demo data, not on field footage."]
    lines += [
        "",
        "| artifact | backend | ran in | p50 ms | p90 ms | p99 ms | fps | size MB | top-1 | speed-up vs PyTorch | status |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results["rows"]:
        lines.append(
            f"| {r['name']} | {r['backend']} | {r['runtime_precision']} | {r['p50_ms']:.2f} | {r['p90_ms']:.2f} | "
            f"{r['p99_ms']:.2f} | {r['throughput_fps']:.1f} | {r['size_bytes'] / 1e6:.2f} | {100 * r['top1']:.2f}% | "
            f"{r['speedup_vs_pytorch']:.2f}x | {r['status']} |"
        )
    if results.get("recommended"):
        lines += ["", f"**Ship:** `{results['recommended']}` — the fastest artifact that passed the accuracy gate."]
    lines += ["", "Libraries: " + ", ".join(f"{k} {v}" for k, v in host["libraries"].items() if v)]
    return "\n".join(lines) + "\n"


def write_report(results: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "report.md").write_text(render_markdown(results))
