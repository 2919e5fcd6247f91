"""N RTSP cameras from one pre-encoded H.264 file: GStreamer's RTSP server, no re-encoding per client.

Run with Debian's /usr/bin/python3 (it has ``gi``); the capacity benchmark starts it:

    /usr/bin/python3 benchmarks/rtsp_serve.py --cameras 32 --video main.mp4 [--video main-kf5.mp4 ...]
        [--sub sub.mp4 ...]

serves ``rtsp://127.0.0.1:PORT/camK`` (K = 0..N-1) and, with ``--sub``, ``/camK/sub`` (the camera's
low-resolution sub-stream), and prints ``READY PORT`` once bound. With several ``--video`` (``--sub``)
files, camera K serves file K mod their number (copies whose keyframes are out of step, streams.py).
Each mount demuxes, parses and payloads the file (``qtdemux ! h264parse ! rtph264pay``): the
encoding was done once, so the server's CPU per camera is small, as an IP camera's encoder costs
the box nothing. The media is paced by the pipeline clock (25 fps as encoded) and loops at its end:
an event probe on the payloader drops EOS and seeks back to 0 (REAL-PARTS.md), so a camera never ends.
"""

import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def _rewind_on_eos(pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
    if info.get_event().type != Gst.EventType.EOS:
        return Gst.PadProbeReturn.OK
    pipeline = pad.get_parent_element()
    while pipeline.get_parent() is not None:
        pipeline = pipeline.get_parent()

    def rewind() -> bool:
        pipeline.seek_simple(Gst.Format.TIME, Gst.SeekFlags.FLUSH | Gst.SeekFlags.KEY_UNIT, 0)
        return False  # run once

    GLib.idle_add(rewind)
    return Gst.PadProbeReturn.DROP


class LoopingFile(GstRtspServer.RTSPMediaFactory):
    """One camera: the file's H.264 access units payloaded as they are, looping forever."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.set_launch(
            f'( filesrc location="{path}" ! qtdemux ! h264parse '
            "! rtph264pay name=pay0 pt=96 config-interval=-1 )"
        )
        self.set_shared(True)  # like a camera: one stream, however many clients
        self.connect("media-configure", self._configure)

    @staticmethod
    def _configure(_factory: GstRtspServer.RTSPMediaFactory, media: GstRtspServer.RTSPMedia) -> None:
        payloader = media.get_element().get_by_name("pay0")
        payloader.get_static_pad("sink").add_probe(Gst.PadProbeType.EVENT_DOWNSTREAM, _rewind_on_eos)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--video", action="append", required=True, help="H.264 in MP4, made once (benchmarks/streams.py)"
    )
    parser.add_argument("--cameras", type=int, required=True)
    parser.add_argument(
        "--sub", action="append", help="a low-resolution H.264 MP4 served as each camera's /sub stream"
    )
    parser.add_argument("--port", default="0", help="0: any free port (printed)")
    args = parser.parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(args.port)
    mounts = server.get_mount_points()
    for index in range(args.cameras):
        mounts.add_factory(f"/cam{index}", LoopingFile(args.video[index % len(args.video)]))
        if args.sub:
            mounts.add_factory(f"/cam{index}/sub", LoopingFile(args.sub[index % len(args.sub)]))
    if server.attach(None) == 0:
        print(f"port {args.port} is taken", file=sys.stderr)
        return 1
    print(f"READY {server.get_bound_port()}", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
