"""The camera-capacity benchmark, small and real: H.264 from ffmpeg, GStreamer's RTSP server, the daemon."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import yaml

from benchmarks.__main__ import main
from benchmarks.capacity import merge_points
from benchmarks.streams import GOP_FRAMES, ProcessCpu, has_rtsp_server, staggered_streams

CONTRACT = {
    "cameras",
    "codec",
    "artifact",
    "target_fps",
    "fps_per_camera",
    "frame_age_p50_ms",
    "frame_age_p99_ms",
    "dropped",
    "cpu_percent",
    "rss_mb",
}


@pytest.mark.skipif(
    not has_rtsp_server() or shutil.which("ffmpeg") is None,
    reason="needs ffmpeg and GStreamer's RTSP server (python3-gi, gir1.2-gst-rtsp-server-1.0)",
)
def test_two_rtsp_cameras_at_five_inferences_a_second(tiny_bundle, colour_video, tmp_path):
    site = tmp_path / "site.yaml"
    site.write_text(
        yaml.safe_dump(
            {
                "cameras": [{"name": "belt", "source": "unused.avi"}],
                "rules": [{"name": "red", "camera": "belt", "labels": ["red"], "min_score": 0.6}],
            }
        )
    )
    out = tmp_path / "bench"
    argv = [
        "capacity",
        "--bundle",
        str(tiny_bundle),
        "--artifact",
        "openvino-fp32",
        "--video",
        str(colour_video.path),
        "--site",
        str(site),
        "--out",
        str(out),
        "--cameras",
        "2",
        "--seconds",
        "4",
        "--warmup",
        "1",
        "--latency",
    ]
    assert main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    (point,) = results["capacity"]
    assert CONTRACT <= point.keys()
    assert (point["cameras"], point["codec"], point["task"], point["target_fps"]) == (
        2,
        "h264",
        "classify",
        5.0,
    )
    assert 0 < point["fps_per_camera"] <= 5.5  # never more than the slots: infer_fps thins the frames
    assert (
        point["decoded_fps_per_camera"] > 2 * point["fps_per_camera"]
    )  # every frame decoded, 1 in 5 inferred
    assert point["frame_age_p99_ms"] >= point["frame_age_p50_ms"] > 0
    assert point["cpu_percent"] > 0 and point["rss_mb"] > 0 and point["server_cpu_percent"] is not None
    assert point["stream"] == "main 640x360, staggered keyframes" and point["keyframes"] == "staggered"
    assert point["over_capacity"] in (True, False)
    costs = results["capacity_costs"]
    assert set(costs["decode_ms"]) == {"640x360", "320x180", "640x360 mjpeg"}
    decode = costs["decode_ms"]
    assert decode["640x360 mjpeg"]["imdecode_ms"] > 0 and "imdecode_ms" not in decode["640x360"]
    assert costs["decode_ms"]["640x360"]["grab_ms"] > 0 and set(costs["preprocess_ms"]) == {
        "host",
        "graph",
        "graph_resize",
    }
    latency = results["capacity_latency"]
    assert latency["events"] > 0 and latency["capture_to_event_p99_ms"] >= latency["capture_to_event_p50_ms"]
    report = (out / "report.md").read_text()
    assert "## Camera capacity: H.264 over RTSP" in report and "| openvino-fp32 (classify, graph) |" in report
    assert (out / "capacity.png").stat().st_size > 0
    goals = {goal["goal"]: goal for goal in results["goals"]}
    assert goals["H.264 cameras at target fps, frame age p99 < 250 ms, 0 dropped (classifier)"][
        "measured"
    ] in (0, 2)


def test_a_new_sweep_replaces_the_points_it_measured_again():
    def point(cameras: int, mode: str, fps: float) -> dict:
        return {
            "bundle": "b",
            "artifact": "openvino-int8",
            "mode": mode,
            "preprocess": "graph",
            "stream": "main 640x360",
            "cameras": cameras,
            "fps_per_camera": fps,
        }

    old = [point(1, "throughput", 5.0), point(4, "throughput", 5.0), point(4, "latency", 4.0)]
    merged = merge_points(old, [point(4, "throughput", 4.5)])
    assert [(p["cameras"], p["mode"], p["fps_per_camera"]) for p in merged] == [
        (1, "throughput", 5.0),
        (4, "latency", 4.0),
        (4, "throughput", 4.5),
    ]


def test_cpu_of_another_process_is_averaged_over_a_window():
    sampler = ProcessCpu(pid=0)  # not started: samples set by hand
    sampler.samples = [(10.0, 1.0), (11.0, 1.5), (12.0, 2.0), (13.0, 3.0)]
    assert sampler.percent(10.5, 12.5) == pytest.approx(50.0)  # from 11 s to 12 s: half a core
    assert sampler.percent(10.0, 13.0) == pytest.approx(66.7, abs=0.1)
    assert sampler.percent(12.5, 12.9) is None  # fewer than two samples inside


def _keyframes(path) -> list[int]:
    probe = [shutil.which("ffprobe") or "ffprobe", "-v", "error", "-select_streams", "v",
             "-show_entries", "frame=key_frame", "-of", "csv=p=0", str(path)]  # fmt: skip
    flags = subprocess.run(probe, capture_output=True, text=True, check=True).stdout.split()
    return [index for index, flag in enumerate(flags) if flag.startswith("1")]


@pytest.mark.skipif(shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None, reason="needs ffmpeg")
def test_staggered_cameras_have_their_keyframes_out_of_step(colour_video, tmp_path):
    files = staggered_streams(colour_video.path, tmp_path, 64, 48, count=3)
    assert len(files) == 3 and len(set(files)) == 3
    keyframes = [_keyframes(path) for path in files]
    assert keyframes[0][:3] == [0, GOP_FRAMES, 2 * GOP_FRAMES]  # the aligned stream: every 2 s from the start
    later = [frames[1:] for frames in keyframes]  # after the first frame, which is always a keyframe
    assert len({frames[0] % GOP_FRAMES for frames in later}) == 3  # three different phases
    for frames in later:
        assert all(b - a == GOP_FRAMES for a, b in zip(frames, frames[1:], strict=False))  # then every 2 s
    assert staggered_streams(colour_video.path, tmp_path, 64, 48, count=1) == files[:1]  # made once, reused
