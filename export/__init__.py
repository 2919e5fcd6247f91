"""adit's export stage: PyTorch checkpoint -> ONNX -> OpenVINO IR -> INT8, gated on measured accuracy."""
