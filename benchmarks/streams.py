"""Real camera streams for the capacity benchmark: H.264 made once, served over RTSP, and what decoding costs.

``encode_stream`` turns the belt video into what an IP camera sends (x264, Main profile, 25 fps, a
keyframe every 2 s, no B-frames, ``sliced-threads=0``: sliced frames reach OpenCV corrupted,
REAL-PARTS.md). The 15 fps video is brought to 25 fps by blending neighbouring frames, so no frame
is a duplicate that a decoder would skip for nearly free. ``RtspCameras`` serves it as N cameras from
GStreamer's RTSP server (``rtsp_serve.py``, Debian's Python), which only parses and payloads the
file: its CPU time is sampled separately (``ProcessCpu``) since it shares the box's cores.

Every mount starts its file when the daemon connects, and the daemon connects to all of them at
once, so with one file every camera's keyframe (several P-frames' decoding) arrived in the same
moment every 2 s, and all cameras looped at the same moment: real cameras, booted at different
times, do not do that. ``staggered_streams`` makes ``KEYFRAME_PHASES`` copies whose keyframes sit at
different offsets in the 2 s group of pictures (and start that far into the video, so their loops
drift apart too); camera K gets copy K mod ``KEYFRAME_PHASES``.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import cv2

from edge_runtime.errors import SourceError

SYSTEM_PYTHON = Path("/usr/bin/python3")  # Debian's, with gi and GstRtspServer
SERVER = Path(__file__).with_name("rtsp_serve.py")
STREAM_FPS = 25
GOP_FRAMES = 50
KEYFRAME_PHASES = 10  # staggered cameras: keyframes at 10 offsets, 0.2 s apart, within the 2 s GOP
MJPG = int.from_bytes(b"MJPG", "little")  # OpenCV's FOURCC of an MJPEG stream
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def encode_stream(
    video: Path, out_dir: Path, width: int, height: int, codec: str = "h264", keyframe_offset: int = 0
) -> Path:
    """``video`` as an IP camera's stream in a file (made once; reused while newer than the video):
    H.264 in MP4, or MJPEG in AVI (the intra-only codec some cameras still send). ``keyframe_offset``
    (H.264, frames, below ``GOP_FRAMES``): the video starts that many frames in, and after the first
    frame the keyframes fall that many frames later in the group of pictures."""
    suffix = "mp4" if codec == "h264" else "avi"
    phase = f"-kf{keyframe_offset}" if keyframe_offset else ""
    target = out_dir / f"{video.stem}-{width}x{height}-{STREAM_FPS}fps-{codec}{phase}.{suffix}"
    if target.is_file() and target.stat().st_mtime >= video.stat().st_mtime:
        return target
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise SourceError(
            "the capacity benchmark encodes its camera streams with ffmpeg: apt-get install ffmpeg"
        )
    if not video.is_file():
        raise SourceError(f"{video}: no such video file")
    out_dir.mkdir(parents=True, exist_ok=True)
    x264 = f"sliced-threads=0:keyint={GOP_FRAMES}:min-keyint={GOP_FRAMES}:scenecut=0"
    encoder = {
        "h264": ["-c:v", "libx264", "-profile:v", "main", "-preset", "veryfast", "-tune", "zerolatency",
                 "-bf", "0", "-crf", "23", "-pix_fmt", "yuv420p", "-x264-params", x264],
        "mjpeg": ["-c:v", "mjpeg", "-q:v", "5", "-pix_fmt", "yuvj420p"],
    }[codec]  # fmt: skip
    scale = f"framerate=fps={STREAM_FPS},scale={width}:{height}"
    if keyframe_offset:
        start = f"trim=start_frame={keyframe_offset},setpts=PTS-STARTPTS"
        scale = f"framerate=fps={STREAM_FPS},{start},scale={width}:{height}"
        keys = f"expr:eq(n,0)+gte(n,{keyframe_offset})*eq(mod(n-{keyframe_offset},{GOP_FRAMES}),0)"
        encoder += ["-force_key_frames", keys]
    command = [ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-i", str(video), "-vf", scale, "-an"]
    done = subprocess.run([*command, *encoder, str(target)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SourceError(f"{video}: ffmpeg could not encode it: {done.stderr.strip()[-400:]}")
    return target


def staggered_streams(video: Path, out_dir: Path, width: int, height: int, count: int) -> list[Path]:
    """The H.264 copies for ``count`` cameras with keyframes out of step (at most ``KEYFRAME_PHASES``)."""
    step = GOP_FRAMES // KEYFRAME_PHASES
    phases = min(count, KEYFRAME_PHASES)
    return [encode_stream(video, out_dir, width, height, keyframe_offset=k * step) for k in range(phases)]


def has_rtsp_server() -> bool:
    if not SYSTEM_PYTHON.is_file():
        return False
    probe = [str(SYSTEM_PYTHON), "-c", "import gi; gi.require_version('GstRtspServer', '1.0')"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


class RtspCameras:
    """``count`` cameras at rtsp://127.0.0.1:PORT/camK (and /camK/sub with ``sub``) while in ``with``.

    ``main`` (and ``sub``): one file for every camera, or several: camera K serves file K mod their number.
    """

    def __init__(
        self, main: Path | Sequence[Path], count: int, sub: Path | Sequence[Path] | None = None
    ) -> None:
        if not has_rtsp_server():
            raise SourceError(
                "GStreamer's RTSP server is not installed: apt-get install python3-gi "
                "gir1.2-gst-rtsp-server-1.0 "
                "gstreamer1.0-plugins-bad gstreamer1.0-plugins-good"
            )
        self.command = [str(SYSTEM_PYTHON), str(SERVER), "--cameras", str(count)]
        for path in [main] if isinstance(main, Path) else main:
            self.command += ["--video", str(path)]
        for path in [sub] if isinstance(sub, Path) else sub or []:
            self.command += ["--sub", str(path)]
        self.process: subprocess.Popen[str] | None = None
        self.port = 0

    def url(self, index: int, sub: bool = False) -> str:
        return f"rtsp://127.0.0.1:{self.port}/cam{index}" + ("/sub" if sub else "")

    def __enter__(self) -> RtspCameras:
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        line = self.process.stdout.readline() if self.process.stdout else ""
        if not line.startswith("READY "):
            self.__exit__()
            raise SourceError(f"the RTSP server did not start: {' '.join(self.command)}")
        self.port = int(line.split()[1])
        return self

    def __exit__(self, *_: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


class ProcessCpu:
    """Samples another process's CPU seconds (all its threads) every ``every_s``, on a thread."""

    def __init__(self, pid: int, every_s: float = 0.25) -> None:
        self._stat = Path(f"/proc/{pid}/stat")
        self._every_s = every_s
        self.samples: list[tuple[float, float]] = []  # (wall time, CPU seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="process-cpu", daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                fields = self._stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                return  # the process is gone
            self.samples.append((time.time(), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS))
            self._stop.wait(self._every_s)

    def __enter__(self) -> ProcessCpu:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def percent(self, start: float, end: float) -> float | None:
        """Average CPU (100 = one core) between two wall times, from the samples nearest inside them."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
            return None
        return round(100.0 * (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0]), 1)


def _thread_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_THREAD)
    return usage.ru_utime + usage.ru_stime


def decode_cost(path: Path, frames: int = 500) -> dict[str, float]:
    """CPU milliseconds per frame to read ``path`` on one decoder thread, as a camera does: ``grab``
    alone (decoding: what every H.264 frame costs), ``retrieve`` on top (the BGR conversion of the
    frames the model gets); for MJPEG also a grab that only reads the compressed frame and the
    ``imdecode`` of a due one (what ``sources`` does for a thinned MJPEG camera)."""
    costs: dict[str, float] = {}
    ways = [("grab_ms", False, False), ("grab_retrieve_ms", False, True)]
    ways += [("raw_grab_ms", True, False), ("raw_grab_imdecode_ms", True, True)]
    for name, raw, convert in ways:
        capture = cv2.VideoCapture(str(path), cv2.CAP_ANY, [cv2.CAP_PROP_N_THREADS, 1])
        if raw and not (
            int(capture.get(cv2.CAP_PROP_FOURCC)) == MJPG and capture.set(cv2.CAP_PROP_FORMAT, -1)
        ):
            capture.release()
            continue
        count, before = 0, _thread_cpu_s()
        while count < frames and capture.grab():
            if convert:
                ok, image = capture.retrieve()
                if raw and ok:
                    cv2.imdecode(image.reshape(-1), cv2.IMREAD_COLOR)
            count += 1
        cpu = _thread_cpu_s() - before
        capture.release()
        if count == 0:
            raise SourceError(f"{path}: no frame could be decoded")
        costs[name] = round(1000.0 * cpu / count, 3)
    costs["retrieve_ms"] = round(costs["grab_retrieve_ms"] - costs["grab_ms"], 3)
    if "raw_grab_imdecode_ms" in costs:
        costs["imdecode_ms"] = round(costs.pop("raw_grab_imdecode_ms") - costs["raw_grab_ms"], 3)
    return costs
