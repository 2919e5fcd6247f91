"""1-D networks of the signal task, registered in train.models's registry beside the ImageNet backbones.

``signal_cnn1d`` reads the standardised waveform: a wide first kernel (as in WDCNN) so the first
layer sees a few resonance cycles and learns its own band-pass filters, then global pooling.
``signal_spectrum_cnn`` reads a spectrum (``spectrum``, ``order_spectrum``, ``envelope_spectrum``):
where the energy sits is the fault's signature, so after two small convolutions (tolerant of a
line moving a bin or two) it keeps the position (flatten, no global pooling). Both train in
seconds on a CPU.
"""

from __future__ import annotations

from torch import nn

from train.models import BuiltModel, ModelRequest, load_weights_file, register_model


def _block(c_in: int, c_out: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm1d(c_out),
        nn.ReLU(inplace=True),
        nn.MaxPool1d(2),
    )


@register_model("classify", "signal_cnn1d")
def build_signal_cnn1d(request: ModelRequest) -> BuiltModel:
    """Input (N, 1, window). No pretrained 1-D backbone exists: DEFAULT and none both start from scratch."""
    head = nn.Linear(64, request.num_classes)
    module = nn.Sequential(
        _block(1, 16, 64, stride=8),
        _block(16, 32, 3),
        _block(32, 64, 3),
        _block(64, 64, 3),
        nn.AdaptiveAvgPool1d(1),
        nn.Flatten(),
        head,
    )
    if request.weights.lower() not in ("none", "default"):
        load_weights_file(module, request.weights)
    return BuiltModel(module=module, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), head=head)


@register_model("classify", "signal_spectrum_cnn")
def build_signal_spectrum_cnn(request: ModelRequest) -> BuiltModel:
    """Input (N, channels, bins), told as the request's image size (the signal task sets it)."""
    if request.image_size is None:
        raise ValueError("signal_spectrum_cnn needs the input size (image_size (channels, bins))")
    channels, bins = request.image_size
    head = nn.Linear(32 * (bins // 16), request.num_classes)
    module = nn.Sequential(
        _block(channels, 16, 7),
        nn.MaxPool1d(2),
        _block(16, 32, 7),
        nn.MaxPool1d(2),
        nn.Flatten(),
        nn.Dropout(0.3),
        head,
    )
    if request.weights.lower() not in ("none", "default"):
        load_weights_file(module, request.weights)
    return BuiltModel(module=module, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), head=head)
