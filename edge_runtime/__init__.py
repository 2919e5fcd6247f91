"""adit's deployable half: bundle loading, preprocessing, inference backends and the camera daemon.

This package never imports torch: the edge device installs only numpy, OpenCV, ONNX Runtime,
OpenVINO and the daemon's few needs (the ``edge`` extra).
"""

__version__ = "0.1.0"
