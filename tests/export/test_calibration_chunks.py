"""ONNX Runtime calibrates in chunks, so a histogram calibration never holds every batch's activations."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from export import quantize
from export.calibration import CalibrationSet
from export.onnx_export import INPUT_NAME
from export.options import OrtQuantOptions


def _conv_model(path) -> None:
    """A 3->4 channel 3x3 convolution and a ReLU: the smallest graph ORT's quantizer calibrates."""
    kernel = np.random.default_rng(0).normal(size=(4, 3, 3, 3)).astype(np.float32)
    weight = numpy_helper.from_array(kernel, "w")
    graph = helper.make_graph(
        [
            helper.make_node("Conv", [INPUT_NAME, "w"], ["c"], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["c"], ["y"]),
        ],
        "conv",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])],
        [weight],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


@pytest.mark.parametrize("batches, chunk", [(20, 5), (16, 8), (7, 7), (13, 1)])
def test_the_chunk_divides_the_batches_and_stays_small(batches: int, chunk: int) -> None:
    assert quantize._chunk(batches) == chunk


@pytest.mark.parametrize("method", ["minmax", "percentile"])
def test_calibration_reads_every_batch_in_chunks(tmp_path, monkeypatch, method: str) -> None:
    _conv_model(tmp_path / "model.onnx")
    rng = np.random.default_rng(1)
    batches = [rng.normal(size=(1, 3, 8, 8)).astype(np.float32) for _ in range(20)]
    ranges: list[tuple[int, int]] = []
    set_range = quantize._Reader.set_range

    def recorded(self, start_index: int, end_index: int) -> None:
        ranges.append((start_index, end_index))
        set_range(self, start_index, end_index)

    monkeypatch.setattr(quantize._Reader, "set_range", recorded)
    out = quantize.quantize_onnx(
        tmp_path / "model.onnx",
        CalibrationSet(batches, [str(i) for i in range(20)]),
        tmp_path / "model.int8.onnx",
        OrtQuantOptions(calibration=method),
    )
    assert ranges == [(0, 5), (5, 10), (10, 15), (15, 20)]
    ops = {node.op_type for node in onnx.load(out).graph.node}
    assert "QuantizeLinear" in ops
    result = ort.InferenceSession(str(out)).run(None, {INPUT_NAME: batches[0]})[0]
    assert result.shape == (1, 4, 8, 8) and np.isfinite(result).all()
