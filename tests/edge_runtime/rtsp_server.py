"""A real RTSP server (GStreamer's, from Debian) for the tests; run it with /usr/bin/python3, which has gi.

Usage: rtsp_server.py PORT WIDTH HEIGHT — serves generated, moving colour bars as JPEG over RTP
(the fastest to start, REAL-PARTS.md) on rtsp://127.0.0.1:PORT/cam and prints READY once bound.
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402  (after require_version)


def main() -> int:
    port, width, height = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f"( videotestsrc is-live=true pattern=smpte horizontal-speed=4 ! video/x-raw,width={width},height={height},framerate=15/1 "
        "! videoconvert ! video/x-raw,format=I420 ! jpegenc ! rtpjpegpay name=pay0 pt=26 )"
    )
    factory.set_shared(True)
    server.get_mount_points().add_factory("/cam", factory)
    if server.attach(None) == 0:
        print(f"port {port} is taken", file=sys.stderr)
        return 1
    print("READY", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
