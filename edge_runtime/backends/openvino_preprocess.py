"""The manifest's preprocessing as OpenVINO PrePostProcessor steps, compiled into the model's graph.

``edge_runtime.preprocess`` stays the one definition; this derives the same steps from the same
``InputSpec`` (nothing is re-typed), so the daemon hands OpenVINO uint8 frames and the per-pixel float
work runs inside the compiled graph instead of in numpy:

| ``preprocess`` (numpy)                    | here                                                  |
|-------------------------------------------|-------------------------------------------------------|
| ``resize(frame, spec)`` on BGR uint8      | the same function on the host (``resized_batch``)     |
| ``colour == "rgb"``: reverse the channels | tensor colour BGR, ``convert_color(RGB)``             |
| ``(x * scale - mean) / std``, float32     | ``convert_element_type(f32)``, ``mean(mean / scale)``,|
|                                           | ``scale(std / scale)``                                |
| ``layout``: NHWC -> NCHW transpose        | tensor layout NHWC, model layout ``spec.layout``      |

The geometric step stays on the host: OpenCV resizes a 640x360 uint8 frame in about 0.1 ms, while
PrePostProcessor's RESIZE_LINEAR on the full frame took 1.8-4.4 ms on one core (``resize_in_graph``,
kept for that comparison in ``benchmarks/preprocess_cost.py``); its output agrees with numpy's within
one grey level, the host-resized path within float rounding (tests/edge_runtime/test_graph_preprocess.py).
"""

from __future__ import annotations

import openvino as ov
from openvino.preprocess import ColorFormat, PrePostProcessor, ResizeAlgorithm

from edge_runtime.bundle import InputSpec
from edge_runtime.errors import BundleError


def embed_preprocessing(model: ov.Model, spec: InputSpec, *, resize_in_graph: bool = False) -> ov.Model:
    """``model`` (one image input laid out per ``spec``) taking BGR uint8 NHWC frames instead.

    Without ``resize_in_graph`` the frames must already have the model's size (``resized_batch``);
    with it (stretch only) any size, resized by OpenVINO's linear interpolation.
    """
    if len(model.inputs) != 1:
        raise BundleError(f"graph preprocessing needs a model with one image input, got {len(model.inputs)}")
    if resize_in_graph and spec.resize != "stretch":
        raise BundleError(f"resize {spec.resize!r} cannot run in the graph; only 'stretch' can")
    ppp = PrePostProcessor(model)
    image = ppp.input()
    tensor = image.tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC"))
    tensor.set_color_format(ColorFormat.BGR)
    if resize_in_graph:
        tensor.set_spatial_dynamic_shape()
    image.model().set_layout(ov.Layout(spec.layout))
    steps = image.preprocess()
    if resize_in_graph:
        steps.resize(ResizeAlgorithm.RESIZE_LINEAR)  # on uint8, before the float conversion: cheaper
    steps.convert_element_type(ov.Type.f32)
    if spec.colour == "rgb":
        steps.convert_color(ColorFormat.RGB)
    # (x * scale - mean) / std == (x - mean / scale) / (std / scale), per channel in the model's order
    steps.mean([m / spec.scale for m in spec.mean]).scale([s / spec.scale for s in spec.std])
    return ppp.build()
