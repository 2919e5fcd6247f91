"""results.json, report.md and report.html: the figures, and a verdict a site engineer can act on.

Both reports are rendered from the same list of sections, built from results.json alone, so a
stored results file renders the same report on any machine (no model or data needed).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from benchmarks import plots
from benchmarks.goals import FRAME_AGE_P99_MAX_MS, cameras_kept, evaluate_goals, int8_drops
from benchmarks.i18n import headings
from benchmarks.models import Row


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    right: set[int] = field(default_factory=set)  # numeric columns, right-aligned


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


def _fmt(value: object, spec: str = ".2f", suffix: str = "") -> str:
    return "–" if value is None else f"{value:{spec}}{suffix}"


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
                _fmt(r.get("load_s")),
                _fmt(r.get("peak_rss_mb"), ".0f"),
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
                _fmt(g["measured"], ".3f"),
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
                    _fmt(p["threads"], "d"),
                    _fmt(p["streams"], "d"),
                    str(p.get("batch", 1)),
                    _fmt(p["p50_ms"]),
                    f"{p['fps']:.1f}",
                ]
            )
        out.append(sweep)
    if results.get("pipeline"):
        out += _pipeline_sections(results["pipeline"], text)
    if results.get("capacity"):
        out.append(_capacity_section(results, text["capacity"]))
    if results.get("training"):
        out.append(_training_section(results["training"], text["training"]))
    out.append(
        Section(
            text["host"],
            [
                (
                    f"{host['cpu']}, {host['cores']} cores, {host.get('memory_gib', '?')} GiB, "
                    f"{host.get('os', '')}; instruction sets: {', '.join(host['isa'])}; "
                    f"load average (1 min) at the start: {_fmt(host.get('load_avg_1m'))}."
                ),
                "Libraries: " + ", ".join(f"{k} {v}" for k, v in host["libraries"].items() if v),
            ],
        )
    )
    return out


def _pipeline_sections(p: dict, text: dict[str, str]) -> list[Section]:
    event = p["capture_to_event_ms"]
    stages = Section(
        text["pipeline"],
        [
            (
                f"`{p['artifact']}` (ran in {p['runtime_precision']}) replayed over {p['frames']} frames "
                f"of `{p['video']}`: **{p['e2e_fps']:.1f} fps end to end** against "
                f"{p['model_only_fps']:.1f} fps for the model alone "
                f"({_fmt(p['e2e_vs_model_only'], '.2f')}x)."
            ),
            (
                f"Capture to event: p50 {_fmt(event['p50'])} ms, p99 {_fmt(event['p99'])} ms "
                f"over {event['events']} event(s) "
                f"with {event['camera_count']} camera(s) live; capture to decision (every frame): "
                f"p50 {_fmt(p['capture_to_decision_ms']['p50'])} ms, "
                f"p99 {_fmt(p['capture_to_decision_ms']['p99'])} ms."
            ),
        ],
        ["stage", "p50 ms", "p99 ms", "mean ms"],
        right={1, 2, 3},
    )
    for stage, s in p["stages_ms"].items():
        stages.rows.append([stage, f"{s['p50']:.3f}", f"{s['p99']:.3f}", f"{s['mean']:.3f}"])
    if p.get("cpu_ms_per_frame"):
        cpu = p["cpu_ms_per_frame"]
        stages.paragraphs.append(
            f"CPU time per frame: decode {cpu['decode']:.2f} ms, preprocess {cpu['preprocess']:.2f} ms, "
            f"inference {cpu['infer']:.2f} ms: on {p['cores']} cores at most "
            f"**{p['cpu_bound_fps']:.1f} fps**; end to end is "
            f"{_fmt(p['cpu_bound_fraction'], '.2f')}x that bound."
        )
    cameras = Section(
        text["cameras"],
        ["Every camera plays the video at its frame rate; the model takes the newest frame of each."],
        ["cameras", "fps per camera", "frame age p50 ms", "frame age p99 ms", "captured", "dropped"],
        right={0, 1, 2, 3, 4, 5},
    )
    for c in p["cameras"]:
        cameras.rows.append(
            [
                str(c["count"]),
                f"{c['fps_per_camera']:.1f}",
                _fmt(c.get("frame_age_p50_ms")),
                f"{c['frame_age_p99_ms']:.2f}",
                str(c.get("captured", "")),
                str(c["dropped"]),
            ]
        )
    return [stages, cameras]


_WAYS = {
    "host": "numpy on the host",
    "graph": "in the OpenVINO graph after an OpenCV resize (the daemon's)",
    "graph_resize": "in the graph, resize included",
}


def _capacity_section(results: dict, title: str) -> Section:
    measured = results.get("capacity_costs") or {}
    decode = "; ".join(_decode_cost(stream, cost) for stream, cost in measured.get("decode_ms", {}).items())
    preprocess = "; ".join(
        f"{_WAYS[way]} {c['cpu_ms']:.2f} ms CPU ({c['wall_ms']:.2f} ms wall)"
        for way, c in measured.get("preprocess_ms", {}).items()
    )
    paragraphs = [
        "Each camera is the belt video encoded once as H.264 (Main, 25 fps, keyframe every 2 s, no "
        "B-frames), served by GStreamer's RTSP server on 127.0.0.1 without re-encoding; the daemon decodes "
        "every frame and infers its target rate of them. Daemon CPU is its process (100 % = one core); the "
        "server's is apart."
    ]
    if decode:
        paragraphs.append(f"CPU per decoded frame, one decoder thread: {decode}.")
    if preprocess:
        paragraphs.append(f"A 640x360 frame to the model's outputs, preprocessing {preprocess}.")
    headers = ["artifact", "mode", "stream", "cameras", "target fps", "fps per camera (min)",
               "frame age p50 / p99 ms", "dropped", "daemon CPU % (per camera)", "server CPU %", "RSS MB",
               "over capacity"]  # fmt: skip
    section = Section(title, paragraphs, headers, right={3, 4, 5, 7, 8, 9, 10})
    order = sorted(results["capacity"], key=lambda p: (p["task"], p["mode"], p["stream"], p["cameras"]))
    section.rows = [_capacity_row(point) for point in order]
    latency = results.get("capacity_latency")
    if latency:
        section.paragraphs.append(
            f"One camera, an event on every inferred frame ({latency['events']} events): capture to event "
            f"committed p50 {_fmt(latency['capture_to_event_p50_ms'])} ms, "
            f"p99 {_fmt(latency['capture_to_event_p99_ms'])} ms; "
            f"model p99 {_fmt(latency['infer_p99_ms'])} ms, "
            f"decode {latency['decode_ms']:.2f} ms; of it the outbox's durable commit "
            f"(SQLite, synchronous=FULL) p99 {_fmt(latency.get('delivery_p99_ms'))} ms."
        )
    return section


def _decode_cost(stream: str, cost: dict) -> str:
    text = (
        f"{stream}: decode {cost['grab_ms']:.2f} ms per frame, BGR conversion {cost['retrieve_ms']:.2f} ms "
        "more for the frames the model gets"
    )
    if "imdecode_ms" in cost:  # MJPEG: the skipped frames are only read
        read, imdecode = cost["raw_grab_ms"], cost["imdecode_ms"]
        text += f" (thinned: read {read:.2f} ms, imdecode {imdecode:.2f} ms a due frame)"
    return text


def _capacity_row(p: dict) -> list[str]:
    return [
        f"{p['artifact']} ({p['task']}, {p['preprocess']})",
        p["mode"],
        p["stream"],
        str(p["cameras"]),
        f"{p['target_fps']:g}",
        f"{p['fps_per_camera']:.2f} ({p['fps_per_camera_min']:.2f})",
        f"{_fmt(p['frame_age_p50_ms'], '.1f')} / {_fmt(p['frame_age_p99_ms'], '.1f')}",
        str(p["dropped"]),
        f"{p['cpu_percent']:.0f} ({p['cpu_percent_per_camera']:.1f})",
        _fmt(p["server_cpu_percent"], ".0f"),
        f"{p['rss_mb']:.0f}",
        "yes" if p["over_capacity"] else "no",
    ]


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
                _fmt(r["time_to_target_s"], ".1f"),
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
