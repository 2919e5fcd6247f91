"""The report's sections on the daemon on this box: the pipeline benchmark and the H.264 camera capacity."""

from __future__ import annotations

from benchmarks.section import Section, fmt


def pipeline_sections(p: dict, text: dict[str, str]) -> list[Section]:
    event = p["capture_to_event_ms"]
    stages = Section(
        text["pipeline"],
        [
            (
                f"`{p['artifact']}` (ran in {p['runtime_precision']}) replayed over {p['frames']} frames "
                f"of `{p['video']}`: **{p['e2e_fps']:.1f} fps end to end** against "
                f"{p['model_only_fps']:.1f} fps for the model alone "
                f"({fmt(p['e2e_vs_model_only'], '.2f')}x)."
            ),
            (
                f"Capture to event: p50 {fmt(event['p50'])} ms, p99 {fmt(event['p99'])} ms "
                f"over {event['events']} event(s) "
                f"with {event['camera_count']} camera(s) live; capture to decision (every frame): "
                f"p50 {fmt(p['capture_to_decision_ms']['p50'])} ms, "
                f"p99 {fmt(p['capture_to_decision_ms']['p99'])} ms."
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
            f"{fmt(p['cpu_bound_fraction'], '.2f')}x that bound."
        )
    if p.get("replay_cpu"):
        stages.paragraphs.append(_replay_cpu(p["replay_cpu"], p.get("cpu_ms_per_frame") or {}))
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
                fmt(c.get("frame_age_p50_ms")),
                f"{c['frame_age_p99_ms']:.2f}",
                str(c.get("captured", "")),
                str(c["dropped"]),
            ]
        )
    return [stages, cameras]


def _replay_cpu(replay: dict, alone: dict) -> str:
    """Where end to end loses to the bound: each thread's CPU per frame against its stages' cost alone."""
    spent = replay["ms_per_frame"]
    parts = [
        f"reading (decode and preprocessing) {fmt(spent.get('reading'))} ms"
        + (f" against {alone['decode'] + alone['preprocess']:.2f} ms alone" if alone else ""),
        f"inference loop (hand-over, outputs, rules, delivery) {fmt(spent.get('inference_loop'))} ms",
        f"runtime threads {fmt(spent.get('runtime'))} ms"
        + (f" against {alone['infer']:.2f} ms alone" if alone else ""),
    ]
    if spent.get("other"):
        parts.append(f"other threads {fmt(spent['other'])} ms")
    return (
        f"The replay's own CPU per frame: {'; '.join(parts)}; in all {fmt(replay['total_ms_per_frame'])} ms, "
        f"with {fmt(replay['cores_busy'])} cores busy."
    )


_WAYS = {
    "host": "numpy on the host",
    "graph": "in the OpenVINO graph after an OpenCV resize (the daemon's)",
    "graph_resize": "in the graph, resize included",
}


def capacity_section(results: dict, title: str) -> Section:
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
            f"committed p50 {fmt(latency['capture_to_event_p50_ms'])} ms, "
            f"p99 {fmt(latency['capture_to_event_p99_ms'])} ms; "
            f"model p99 {fmt(latency['infer_p99_ms'])} ms, "
            f"decode {latency['decode_ms']:.2f} ms; the outbox writer's group commit (SQLite WAL, "
            f"synchronous=FULL, off the inference thread) p99 {fmt(latency.get('commit_p99_ms'))} ms, "
            f"the inference thread's hand-off p99 {fmt(latency.get('delivery_p99_ms'))} ms."
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
        f"{fmt(p['frame_age_p50_ms'], '.1f')} / {fmt(p['frame_age_p99_ms'], '.1f')}",
        str(p["dropped"]),
        f"{p['cpu_percent']:.0f} ({p['cpu_percent_per_camera']:.1f})",
        fmt(p["server_cpu_percent"], ".0f"),
        f"{p['rss_mb']:.0f}",
        "yes" if p["over_capacity"] else "no",
    ]
