"""results.json, report.md and report.html: the figures, and a verdict a site engineer can act on.

Both reports are rendered from the same list of sections, built from results.json alone, so a
stored results file renders the same report on any machine (no model or data needed).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from benchmarks import plots
from benchmarks.goals import FRAME_AGE_P99_MAX_MS, cameras_kept, evaluate_goals, int8_drops
from benchmarks.i18n import headings
from benchmarks.models import Row
from benchmarks.report_pipeline import capacity_section, pipeline_sections
from benchmarks.section import Section, fmt


def recommend(rows: list[dict]) -> dict | None:
    """The fastest shipped artifact: what the device should run."""
    shipped = [r for r in rows if r["backend"] not in ("pytorch", "cv2.dnn") and r["status"] == "shipped"]
    return min(shipped, key=lambda r: r["p50_ms"]) if shipped else None


def build_results(host: dict, rows: list[Row], bundle_name: str, synthetic: bool, **extra: object) -> dict:
    """The results.json document; ``extra`` adds optional sections (settings, sweep, pipeline, training)."""
    data = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "bundle": bundle_name,
        "synthetic_data": synthetic,
        "host": host,
        "latency_mode": "batch 1, synchronous, after warm-up",
        "rows": [asdict(r) for r in rows],
        **{key: value for key, value in extra.items() if value is not None},
    }
    data["recommended"] = (recommend(data["rows"]) or {}).get("name")
    data["goals"] = evaluate_goals(data)
    return data


def _verdict(results: dict) -> list[str]:
    lines = []
    if results.get("recommended"):
        lines.append(
            f"**Ship:** `{results['recommended']}` — the fastest artifact that passed the accuracy gate."
        )
    cameras = (results.get("pipeline") or {}).get("cameras", [])
    kept_up = [c["count"] for c in cameras if c["dropped"] == 0]
    if cameras:
        most = max(kept_up) if kept_up else 0
        lines.append(
            f"**Cameras:** this box kept up with {most} of the {max(c['count'] for c in cameras)} camera(s) "
            "tried without dropping a frame (video played at its own frame rate)."
        )
    for task in ("classify", "detect"):
        kept = cameras_kept(results.get("capacity") or [], task)
        if kept is not None:
            lines.append(
                f"**H.264 cameras ({task}):** {kept} at their target rate with frame age p99 under "
                f"{FRAME_AGE_P99_MAX_MS:.0f} ms and no dropped inference slot."
            )
    return lines


def _model_section(results: dict, title: str) -> Section:
    section = Section(
        title,
        headers=[
            "artifact",
            "backend",
            "ran in",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "p50 min–max",
            "throughput fps",
            "throughput mode",
            "load s",
            "peak MB",
            "size MB",
            "top-1",
            "speed-up vs PyTorch",
            "status",
        ],
        right={3, 4, 5, 7, 9, 10, 11, 12, 13},
    )
    for r in results["rows"]:
        section.rows.append(
            [
                r["name"],
                r["backend"],
                r["runtime_precision"],
                f"{r['p50_ms']:.2f}",
                f"{r['p90_ms']:.2f}",
                f"{r['p99_ms']:.2f}",
                f"{r.get('p50_min_ms', r['p50_ms']):.2f}–{r.get('p50_max_ms', r['p50_ms']):.2f} "
                f"({r.get('repeats', 1)}x)",
                f"{r['throughput_fps']:.1f}",
                r.get("throughput_setting", ""),
                fmt(r.get("load_s")),
                fmt(r.get("peak_rss_mb"), ".0f"),
                f"{r['size_bytes'] / 1e6:.2f}",
                f"{100 * r['top1']:.2f}%",
                f"{r['speedup_vs_pytorch']:.2f}x",
                r["status"],
            ]
        )
    notes = sorted({f"{r['name']}: {r['note']}" for r in results["rows"] if r.get("note")})
    section.paragraphs = [f"Latency: {results['latency_mode']}."] + notes
    return section


def sections(results: dict, lang: str = "en") -> list[Section]:
    text = headings(lang)
    host = results["host"]
    intro = Section(
        f"{text['title']}: {results['bundle']}",
        [
            f"Measured {results['created']} on **{host['cpu']}** "
            f"({host['cores']} cores, {', '.join(host['isa'])}).",
        ],
    )
    if results.get("synthetic_data"):
        intro.paragraphs.append(
            "> Accuracy is measured on adit's **synthetic** demo data, not on field footage."
        )
    out = [intro, Section(text["verdict"], _verdict(results)), _model_section(results, text["models"])]
    goals = Section(text["goals"], headers=["goal", "target", "measured", "met"], right={2})
    for g in results.get("goals", []):
        goals.rows.append(
            [
                g["goal"],
                g["target"],
                fmt(g["measured"], ".3f"),
                {True: "yes", False: "NO", None: "not measured"}[g["passed"]],
            ]
        )
    out.append(goals)
    drops = int8_drops(results["rows"])
    if drops:
        classes = list(drops[0]["recall_drop_pp"])
        int8 = Section(
            text["int8"],
            ["Drop in percentage points against the FP32 row of the same format (positive = worse)."],
            ["artifact", "vs", "top-1", *classes],
            right=set(range(2, 3 + len(classes))),
        )
        for d in drops:
            int8.rows.append(
                [
                    d["artifact"],
                    d["reference"],
                    f"{d['top1_drop_pp']:.2f}",
                    *(f"{d['recall_drop_pp'][c]:.2f}" for c in classes),
                ]
            )
        out.append(int8)
    if results.get("sweep"):
        sweep = Section(
            text["sweep"],
            ["Plain OpenVINO calls, threads and streams set by hand: the figure adit must match."],
            ["artifact", "mode", "threads", "streams", "batch", "p50 ms", "fps"],
            right={2, 3, 4, 5, 6},
        )
        for p in results["sweep"]:
            sweep.rows.append(
                [
                    p["artifact"],
                    p["mode"],
                    fmt(p["threads"], "d"),
                    fmt(p["streams"], "d"),
                    str(p.get("batch", 1)),
                    fmt(p["p50_ms"]),
                    f"{p['fps']:.1f}",
                ]
            )
        out.append(sweep)
    if results.get("pipeline"):
        out += pipeline_sections(results["pipeline"], text)
    if results.get("capacity"):
        out.append(capacity_section(results, text["capacity"]))
    if results.get("training"):
        out.append(_training_section(results["training"], text["training"]))
    out.append(
        Section(
            text["host"],
            [
                (
                    f"{host['cpu']}, {host['cores']} cores, {host.get('memory_gib', '?')} GiB, "
                    f"{host.get('os', '')}; instruction sets: {', '.join(host['isa'])}; "
                    f"load average (1 min) at the start: {fmt(host.get('load_avg_1m'))}."
                ),
                "Libraries: " + ", ".join(f"{k} {v}" for k, v in host["libraries"].items() if v),
            ],
        )
    )
    return out


def _training_section(training: dict, title: str) -> Section:
    section = Section(
        title,
        [
            f"Target top-1 {100 * training['target_top1']:.1f}% on the validation split; "
            "same model, data and machine."
        ],
        ["recipe", "images/s", "epochs", "best top-1", "time to target s"],
        right={1, 2, 3, 4},
    )
    for r in training["recipes"]:
        section.rows.append(
            [
                r["recipe"],
                f"{r['images_per_s']:.1f}",
                str(r["epochs"]),
                f"{100 * r['best_top1']:.2f}%",
                fmt(r["time_to_target_s"], ".1f"),
            ]
        )
    return section


def render_markdown(results: dict, lang: str = "en") -> str:
    lines: list[str] = []
    for index, section in enumerate(sections(results, lang)):
        lines += [("# " if index == 0 else "## ") + section.title, ""]
        for paragraph in section.paragraphs:
            lines += [paragraph, ""]
        if section.headers:
            lines.append("| " + " | ".join(section.headers) + " |")
            lines.append(
                "|"
                + "|".join("---:" if i in section.right else "---" for i in range(len(section.headers)))
                + "|"
            )
            lines += ["| " + " | ".join(row) + " |" for row in section.rows]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _inline(text: str) -> Markup:
    """The little markdown the sections use (**bold**, `code`, > note) as HTML, after escaping."""
    escaped = str(escape(text))
    escaped = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped)
    escaped = re.sub(r"`(.+?)`", r"<code>\1</code>", escaped)
    return Markup(escaped.removeprefix("&gt; "))


def _plots(results: dict) -> list[tuple[str, bytes]]:
    figures = []
    if results["rows"]:  # a capacity-only run has no model rows
        rows = results["rows"]
        figures += [
            ("Latency per artifact (p50, whisker to p99)", plots.latency_bars(rows)),
            ("Accuracy against latency (x: rejected by the gate)", plots.accuracy_vs_latency(rows)),
        ]
    if (results.get("pipeline") or {}).get("cameras"):
        figures.append(("Scaling with cameras", plots.camera_scaling(results["pipeline"]["cameras"])))
    if results.get("capacity"):
        capacity = plots.capacity(results["capacity"])
        figures.append(("H.264 cameras: inferences per camera and frame age", capacity))
    return figures


_PAGES = Environment(
    loader=PackageLoader("benchmarks"), autoescape=select_autoescape(["html"]), trim_blocks=True
)
_PAGES.filters["inline"] = _inline


def render_html(results: dict, lang: str = "en") -> str:
    """One self-contained page (templates/report.html): tables, inlined PNG plots, nothing fetched."""
    figures = [(caption, base64.b64encode(png).decode("ascii")) for caption, png in _plots(results)]
    page = _PAGES.get_template("report.html").render(
        lang=lang,
        title=results["bundle"],
        sections=sections(results, lang),
        plots_title=headings(lang)["plots"],
        plots=figures,
    )
    return page.rstrip() + "\n"


def write_report(results: dict, out: Path, lang: str = "en") -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    (out / "report.md").write_text(render_markdown(results, lang), encoding="utf-8")
    (out / "report.html").write_text(render_html(results, lang), encoding="utf-8")
    if results.get("capacity"):
        (out / "capacity.png").write_bytes(plots.capacity(results["capacity"]))
