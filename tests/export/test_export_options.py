"""Export options are a declared table: bad combinations are refused before any work."""

import pytest

from export.build import ExportRequest, export_bundle
from export.errors import ExportError
from export.options import NncfQuantOptions, OnnxOptions, OrtQuantOptions, parse_options

ALL = ["onnx-fp32", "openvino-fp32", "onnx-int8", "openvino-int8"]


def test_options_are_parsed_into_each_formats_model():
    options = parse_options(
        [
            "onnx-int8.calibration=entropy",
            "openvino-int8.preset=mixed",
            "openvino-int8.ignored_scope=head,fc",
            "onnx-fp32.opset=18",
            "onnx-fp32.simplify=true",
        ],
        ALL,
    )
    assert options["onnx-int8"] == OrtQuantOptions(calibration="entropy")
    assert options["openvino-int8"] == NncfQuantOptions(preset="mixed", ignored_scope=("head", "fc"))
    assert options["onnx-fp32"] == OnnxOptions(opset=18, simplify=True)


@pytest.mark.parametrize(
    ("pair", "message"),
    [
        ("onnx-int8.preset=mixed", "onnx-int8 accepts calibration"),  # NNCF's option on the ORT route
        ("onnx-int8.calibration=histogram", "calibration.*minmax"),
        ("onnx-fp32.opset=9", "opset"),
        ("openvino-fp16.preset=mixed", "not being exported"),
        ("openvino-fp32.fp16=true", "openvino-fp32 accepts no options"),
        ("tflite-int8.x=1", "choose from: onnx-fp32"),
        ("calibration=entropy", "FORMAT.OPTION=VALUE"),
    ],
)
def test_bad_options_are_refused_with_the_valid_ones(pair, message):
    with pytest.raises(ExportError, match=message):
        parse_options([pair], ALL)


def test_bad_option_stops_export_before_the_checkpoint_is_read(tmp_path):
    request = ExportRequest(
        checkpoint=tmp_path / "absent.pt", out=tmp_path / "out", options=("onnx-int8.preset=mixed",)
    )
    with pytest.raises(ExportError, match="onnx-int8 accepts"):
        export_bundle(request)
    assert not (tmp_path / "out").exists()
